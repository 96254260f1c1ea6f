//! How YAML from users is read: policy files here, manifest streams in the
//! `dry-run` face. One place, so both readers hold hostile text to the same bound
//! (ARCHITECTURE.md, "Hostile input").
//!
//! serde-saphyr's defaults bound nodes, depth and the alias/anchor ratio, but let
//! aliases replay a million events: a few hundred bytes of nested aliases (a
//! "billion laughs") then build tens of MiB of values before any other bound
//! trips. Here the replays are bounded by the text's own size instead, so what a
//! document expands to stays proportional to what was written. Real manifests and
//! policies use aliases little or not at all; the floor leaves them plenty.

use serde_saphyr::Options;

/// Alias replays any text may make, however short (YAML merge keys and shared
/// blocks in a hand-written file stay far below it).
pub const REPLAY_FLOOR: usize = 10_000;

/// serde-saphyr's default options, with alias replays bounded by
/// [`REPLAY_FLOOR`] plus one per byte of `text`.
pub fn options(text: &str) -> Options {
    let mut options = Options::default();
    options.alias_limits.max_total_replayed_events = REPLAY_FLOOR.saturating_add(text.len());
    options
}

/// Nested aliases (a "billion laughs"): each level `fan` aliases of the one before,
/// `levels` deep, one mapping key a level. For the tests of every YAML reader here.
#[cfg(test)]
pub(crate) fn laughs(levels: usize, fan: usize) -> String {
    let mut text = String::from("a0: &a0 \"lololololololololololololololololololol\"\n");
    for level in 1..=levels {
        let aliases = vec![format!("*a{}", level - 1); fan].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn nested_aliases_are_refused_once_they_replay_more_than_the_text_allows() {
        // 9^5 = 59,049 replays from 300 bytes: under serde-saphyr's own limits (a
        // fuzzed input like it held over 64 MiB), past this one.
        let bomb = laughs(5, 9);
        let err = serde_saphyr::from_str_with_options::<Value>(&bomb, options(&bomb))
            .unwrap_err()
            .to_string();
        assert!(err.contains("alias") || err.contains("replay"), "{err}");
        assert!(serde_saphyr::from_str::<Value>(&bomb).is_ok());
    }

    #[test]
    fn ordinary_aliases_still_read() {
        let text = laughs(2, 9);
        let value: Value = serde_saphyr::from_str_with_options(&text, options(&text)).unwrap();
        assert_eq!(value["a2"][8][8], "lololololololololololololololololololol");
        let merge = "base: &base {a: 1, b: 2}\nx:\n  <<: *base\n  c: 3\n";
        let value: Value = serde_saphyr::from_str_with_options(merge, options(merge)).unwrap();
        assert_eq!(value["x"]["b"], 2);
    }
}
