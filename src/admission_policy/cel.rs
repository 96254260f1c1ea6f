//! CEL text for the exported policy: literals, label selectors, the image catalog
//! as regular expressions, and the GODEBUG merge (ARCHITECTURE.md, "Targeting",
//! "The GODEBUG merge").
//!
//! Everything here is limited to what a Kubernetes 1.31 apiserver accepts for new
//! expressions (the oldest library set a `v1alpha1` policy meets on 1.32, which
//! checks new expressions against the previous minor): the standard macros, the
//! strings extension (`split`, `join`, `substring`, `indexOf`, `lastIndexOf`,
//! `trim`, `lowerAscii`), Kubernetes' list library (`indexOf`, `lastIndexOf`) and
//! regex library (`find`), and `matches`. No `cel.bind`, no two-variable
//! comprehensions, no lists extension: so values computed once are kept in
//! `variables`, and a per-container record is a `map(string, string)` (map literals
//! must have one value type) that later variables read by field.

use netdns_guard_engine::catalog::{CatalogEntry, Risk, split_pattern};
use netdns_guard_engine::policy::{LabelSelector, SelectorOperator};

/// A CEL single-quoted string literal.
pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A CEL list literal of strings.
pub fn string_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// One policy label selector over `labels` (a map expression that is never absent).
/// `matchLabels` and `matchExpressions` are ANDed, as in the engine.
pub fn selector(labels: &str, selector: &LabelSelector) -> String {
    let value = |key: &str| format!("{labels}[{}]", string(key));
    let present = |key: &str| format!("{} in {labels}", string(key));
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .map(|(k, v)| format!("({} && {} == {})", present(k), value(k), string(v)))
        .collect();
    for req in &selector.match_expressions {
        let value_in = || {
            format!(
                "({} && {} in {})",
                present(&req.key),
                value(&req.key),
                string_list(&req.values)
            )
        };
        terms.push(match req.operator {
            SelectorOperator::In => value_in(),
            SelectorOperator::NotIn => format!("!{}", value_in()),
            SelectorOperator::Exists => format!("({})", present(&req.key)),
            SelectorOperator::DoesNotExist => format!("!({})", present(&req.key)),
        });
    }
    format!("({})", terms.join(" && "))
}

// --- images ------------------------------------------------------------------

/// Docker Hub's names for itself, interchangeable in image references.
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// A reference carrying exactly one `@` and a well-formed digest after it: the
/// only digests a pinned pattern can match (the engine compares what follows the
/// first `@` with the pattern's digest, which is always well-formed).
const DIGESTED: &str = "^[^@]*@sha256:[0-9a-f]{64}$";

/// The reference without surrounding space, from a container `c`.
pub fn image_reference(c: &str) -> String {
    format!("has({c}.image) ? string({c}.image).trim() : ''")
}

/// The reference `r` split into a record: `name`, before its first `@`, and
/// `digest`, `@sha256:<hex>` when the reference ends in a well-formed digest and
/// `''` otherwise.
pub fn image_parts(r: &str) -> String {
    format!(
        "{{'name': {r}.split('@')[0], 'digest': {r}.matches({}) ? {r}.substring({r}.indexOf('@')) : ''}}",
        string(DIGESTED)
    )
}

/// The reference `r` without its tag (a `:` after the last `/`).
pub fn image_name(r: &str) -> String {
    let after_slash = format!("{r}.substring({r}.lastIndexOf('/') + 1)");
    format!(
        "{after_slash}.contains(':') ? {r}.substring(0, {r}.lastIndexOf('/') + 1 + {after_slash}.indexOf(':')) : {r}"
    )
}

/// The image name `n` as the key catalog patterns are matched against:
/// `REGISTRY/COMPONENT/…`, Docker Hub spelt `docker.io` with its implicit `library/`
/// made explicit, followed by the reference's `@sha256:<hex>` when it has one; `''`
/// for an empty name (with or without a digest). This is the engine's `ImageRef` (a
/// first component is a registry when it has a `.` or `:` or is `localhost`); the
/// digest has no `/`, so it never changes which component is first.
pub fn image_key(n: &str) -> String {
    let hubs: Vec<String> = DOCKER_HUB.iter().map(|h| regex_literal(h)).collect();
    let registry_first = "^(?:[^/]*[.:][^/]*|localhost)/";
    let hub_first = format!("^(?:{})/", hubs.join("|"));
    let rest = format!("{n}.substring({n}.indexOf('/') + 1)");
    format!(
        "{n} == '' || {n}.startsWith('@') ? '' : {n}.matches({}) ? ({n}.matches({}) ? 'docker.io/' + ({rest}.contains('/') ? '' : 'library/') + {rest} : {n}) : 'docker.io/' + ({n}.contains('/') ? '' : 'library/') + {n}",
        string(registry_first),
        string(&hub_first),
    )
}

/// Escapes a regular-expression metacharacter (RE2 and Rust's regex agree on these).
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A glob path component: `*` matches any run of characters within the component
/// (never into the key's digest suffix).
fn glob_regex(component: &str) -> String {
    let parts: Vec<String> = component.split('*').map(regex_literal).collect();
    parts.join("[^/@]*")
}

/// The regular expression matching the image keys one catalog pattern matches.
///
/// As in the engine: a pattern whose first component is a registry host is anchored
/// (that registry, Docker Hub's names being one, and the whole path); any other
/// matches the key's last components. A pattern pinned to a digest needs the key to
/// end in that digest; any other matches the name with or without one.
pub fn pattern_regex(pattern: &str) -> String {
    let (name, digest) = split_pattern(pattern);
    let end = match digest {
        Some(digest) => format!("@{}$", regex_literal(digest)),
        None => "(?:@|$)".to_owned(),
    };
    format!("{}{end}", name_regex(name))
}

/// The part of [`pattern_regex`] for the pattern's name, from `^` up to the end
/// of its last component.
fn name_regex(name: &str) -> String {
    let components: Vec<&str> = name.split('/').collect();
    let first = components[0];
    let anchored = components.len() > 1 && (first.contains(['.', ':']) || first == "localhost");
    if anchored {
        let registry = if DOCKER_HUB.contains(&first) {
            "docker\\.io".to_owned()
        } else {
            regex_literal(first)
        };
        let path: Vec<String> = components[1..].iter().map(|c| glob_regex(c)).collect();
        format!("^{registry}/{}", path.join("/"))
    } else {
        let path: Vec<String> = components.iter().map(|c| glob_regex(c)).collect();
        format!("^[^/]*/(?:[^/]*/)*{}", path.join("/"))
    }
}

/// Whether the image key `k` is at risk: the first catalog entry (in priority
/// order) whose patterns match it is an at-risk one.
pub fn at_risk(k: &str, entries: &[&CatalogEntry]) -> String {
    // Runs of entries with the same verdict make one regular expression each.
    let mut groups: Vec<(bool, Vec<String>)> = Vec::new();
    for entry in entries {
        let risky = entry.risk == Risk::AtRisk;
        let regexes = entry.images.iter().map(|p| pattern_regex(p));
        match groups.last_mut() {
            Some((r, list)) if *r == risky => list.extend(regexes),
            _ => groups.push((risky, regexes.collect())),
        }
    }
    // Entries after the last at-risk run cannot make anything at risk.
    while groups.last().is_some_and(|(risky, _)| !risky) {
        groups.pop();
    }
    let mut expr = "false".to_owned();
    for (risky, regexes) in groups.iter().rev() {
        let matches = format!(
            "{k}.matches({})",
            string(&format!("(?:{})", regexes.join("|")))
        );
        expr = if *risky {
            if expr == "false" {
                matches
            } else {
                format!("{matches} || ({expr})")
            }
        } else {
            format!("!{matches} && ({expr})")
        };
    }
    expr
}

// --- the GODEBUG merge --------------------------------------------------------

/// Whether the GODEBUG item `i` is one Go reads as `netdns` or one a person meant
/// as such (` netdns=go`, `NETDNS=go`, a bare `netdns`).
pub fn netdns_like(i: &str) -> String {
    format!(
        "({i}.contains('=') ? {i}.substring(0, {i}.indexOf('=')) : {i}).trim().lowerAscii() == 'netdns'"
    )
}

/// Whether the `netdns` value `v` selects `mode` (`go` or `cgo`) the way Go parses
/// it: split at the first `+`, the later non-empty part not starting with a digit is
/// the mode.
pub fn selects(v: &str, mode: &str) -> String {
    let re = format!("(?s)^(?:{mode}|[^+]*\\+{mode}|{mode}\\+(?:[0-9].*)?)$");
    format!("{v}.matches({})", string(&re))
}

/// The debug level's digits in the `netdns` value `v`, `''` when it has none.
pub fn debug_digits(v: &str) -> String {
    let rest = format!("{v}.substring({v}.indexOf('+') + 1)");
    format!(
        "{v}.contains('+') && {rest}.matches('^[0-9]') ? {rest}.find('^[0-9]+') : ({v}.matches('^[0-9]') ? {v}.find('^[0-9]+') : '')"
    )
}

/// The `netdns` values of the GODEBUG value `s`, as a list expression.
pub fn netdns_values(s: &str) -> String {
    format!("{s}.split(',').filter(i, i.startsWith('netdns=')).map(i, i.substring(7))")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_escape_quotes_backslashes_and_controls() {
        assert_eq!(string("a'b\\c\n"), r"'a\'b\\c\n'");
        assert_eq!(string("\u{1}"), r"'\u0001'");
    }

    #[test]
    fn patterns_become_anchored_or_tail_regexes() {
        assert_eq!(
            pattern_regex("beats/filebeat*"),
            "^[^/]*/(?:[^/]*/)*beats/filebeat[^/@]*(?:@|$)"
        );
        assert_eq!(
            pattern_regex("registry.datadoghq.com/agent"),
            "^registry\\.datadoghq\\.com/agent(?:@|$)"
        );
        assert_eq!(
            pattern_regex("index.docker.io/library/nginx"),
            "^docker\\.io/library/nginx(?:@|$)"
        );
    }

    #[test]
    fn pinned_patterns_need_their_digest_at_the_end_of_the_key() {
        let digest = format!("sha256:{}", "0a".repeat(32));
        assert_eq!(
            pattern_regex(&format!("grafana/promtail@{digest}")),
            format!("^[^/]*/(?:[^/]*/)*grafana/promtail@{digest}$")
        );
        assert_eq!(
            pattern_regex(&format!("reg.local:5000/team/*@{digest}")),
            format!("^reg\\.local:5000/team/[^/@]*@{digest}$")
        );
    }
}
