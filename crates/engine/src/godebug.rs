//! The GODEBUG merge: how a container's existing `GODEBUG` value becomes one that
//! makes Go take the pure-Go resolver (ARCHITECTURE.md, "The GODEBUG merge").
//!
//! Go's own rules, which this module mirrors exactly:
//! - GODEBUG is a comma-separated list of `key=value` items with **no whitespace
//!   trimming**: ` netdns=go` is a different key and is ignored by Go.
//! - With the same key twice, Go ≥ 1.20 takes the last item and Go ≤ 1.19 the first,
//!   so a value we write must hold exactly one `netdns` item to mean the same thing on
//!   every Go version.
//! - A `netdns` value splits at the first `+` into two parts; a part starting with a
//!   digit is a debug level, any other non-empty part is the mode, the later one
//!   winning (`go+cgo` means cgo). Only exact lowercase `go` and `cgo` are modes.

use std::fmt;

/// The value written when a container has no usable GODEBUG.
pub const NETDNS_GO: &str = "netdns=go";

/// What Go does with one `netdns` value, parsed the way `net/conf.go` parses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetdnsValue<'a> {
    /// The mode part, if any (`go`, `cgo`, or something Go ignores).
    pub mode: Option<&'a str>,
    /// The debug-level part, if any, as written (digits first).
    pub debug: Option<&'a str>,
}

impl<'a> NetdnsValue<'a> {
    /// Parses a `netdns` value exactly as Go's `goDebugNetDNS` does.
    pub fn parse(value: &'a str) -> Self {
        let mut parsed = NetdnsValue {
            mode: None,
            debug: None,
        };
        let mut take = |part: &'a str| {
            if part.is_empty() {
                return;
            }
            if part.as_bytes()[0].is_ascii_digit() {
                parsed.debug = Some(part);
            } else {
                parsed.mode = Some(part);
            }
        };
        match value.split_once('+') {
            Some((first, rest)) => {
                take(first);
                take(rest);
            }
            None => take(value),
        }
        parsed
    }

    /// The resolver Go picks from this value alone.
    pub fn resolver(&self) -> ForcedResolver {
        match self.mode {
            Some("go") => ForcedResolver::Go,
            Some("cgo") => ForcedResolver::Cgo,
            _ => ForcedResolver::NotForced,
        }
    }

    /// The leading digits of the debug level, which is all Go reads of it.
    fn debug_digits(&self) -> Option<&'a str> {
        let debug = self.debug?;
        let end = debug
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(debug.len());
        Some(&debug[..end])
    }
}

/// Which resolver a GODEBUG setting forces, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForcedResolver {
    /// `netdns=go`: the pure-Go resolver, whatever else the pod does.
    Go,
    /// `netdns=cgo`: the cgo resolver, deliberately.
    Cgo,
    /// Go decides from the environment, resolv.conf and nsswitch.conf.
    NotForced,
}

/// The resolver a whole GODEBUG value selects on old and new Go versions, which
/// differ when `netdns` appears more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    /// Go ≤ 1.19: the first `netdns` item wins.
    pub go_1_19: ForcedResolver,
    /// Go ≥ 1.20: the last `netdns` item wins.
    pub go_1_20: ForcedResolver,
}

/// Reads a GODEBUG value the way each Go version does.
pub fn effective(godebug: &str) -> Effective {
    let mut netdns = items(godebug).filter_map(|item| match item {
        Item::Netdns(v) => Some(NetdnsValue::parse(v).resolver()),
        _ => None,
    });
    let first = netdns.next();
    let last = netdns.last().or(first);
    Effective {
        go_1_19: first.unwrap_or(ForcedResolver::NotForced),
        go_1_20: last.unwrap_or(ForcedResolver::NotForced),
    }
}

/// One comma-separated GODEBUG item, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item<'a> {
    /// `netdns=<value>` with the exact key Go reads.
    Netdns(&'a str),
    /// An item a person meant as netdns but Go ignores: ` netdns=go`, `NETDNS=go`,
    /// `netdns` without `=`.
    Misspelt(&'a str),
    /// Anything else, kept byte for byte.
    Other(&'a str),
}

fn items(godebug: &str) -> impl Iterator<Item = Item<'_>> {
    godebug.split(',').map(|raw| match raw.split_once('=') {
        Some(("netdns", value)) => Item::Netdns(value),
        Some((key, _)) if key.trim().eq_ignore_ascii_case("netdns") => Item::Misspelt(raw),
        None if raw.trim().eq_ignore_ascii_case("netdns") => Item::Misspelt(raw),
        _ => Item::Other(raw),
    })
}

/// What the merge decided for one GODEBUG value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// Already exactly one `netdns` item selecting the Go resolver.
    AlreadyGo,
    /// The owner explicitly chose cgo and the policy respects that.
    KeptCgo,
    /// The value must become this one.
    Rewrite { value: String, why: RewriteReason },
}

/// Why a GODEBUG value was rewritten: the report says it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteReason {
    /// GODEBUG was empty.
    Empty,
    /// GODEBUG held other settings but no `netdns` item.
    Appended,
    /// `netdns` held only a debug level (`netdns=1`).
    DebugLevelOnly,
    /// `netdns` chose cgo and the policy overrides that (`overrideCgo: true`).
    OverrodeCgo,
    /// `netdns` held a value Go ignores, appeared more than once, or was misspelt.
    Normalised,
}

impl fmt::Display for RewriteReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RewriteReason::Empty => "GODEBUG was empty",
            RewriteReason::Appended => "netdns=go appended to the existing GODEBUG",
            RewriteReason::DebugLevelOnly => "netdns held only a debug level",
            RewriteReason::OverrodeCgo => "netdns=cgo overridden by policy",
            RewriteReason::Normalised => {
                "netdns was ambiguous (repeated, misspelt or unknown mode): one netdns=go item kept"
            }
        })
    }
}

/// Merges `netdns=go` into an existing GODEBUG value (ARCHITECTURE.md, "The GODEBUG merge").
///
/// `override_cgo` is the policy's `overrideCgo`: when false an explicit cgo choice is
/// respected (and the caller warns about it).
pub fn merge(godebug: &str, override_cgo: bool) -> Merge {
    if godebug.is_empty() {
        return Merge::Rewrite {
            value: NETDNS_GO.to_owned(),
            why: RewriteReason::Empty,
        };
    }
    let netdns: Vec<NetdnsValue<'_>> = items(godebug)
        .filter_map(|item| match item {
            Item::Netdns(v) => Some(NetdnsValue::parse(v)),
            _ => None,
        })
        .collect();
    let misspelt = items(godebug).any(|item| matches!(item, Item::Misspelt(_)));

    if netdns.is_empty() && !misspelt {
        let separator = if godebug.ends_with(',') { "" } else { "," };
        return Merge::Rewrite {
            value: format!("{godebug}{separator}{NETDNS_GO}"),
            why: RewriteReason::Appended,
        };
    }

    let on_every_version = effective(godebug);
    let single = netdns.len() == 1 && !misspelt;
    if single && netdns[0].resolver() == ForcedResolver::Go {
        return Merge::AlreadyGo;
    }
    let cgo_everywhere = on_every_version.go_1_19 == ForcedResolver::Cgo
        && on_every_version.go_1_20 == ForcedResolver::Cgo;
    if cgo_everywhere && !override_cgo {
        return Merge::KeptCgo;
    }

    // Keep the debug level of the item Go ≥ 1.20 reads (the last one that has one).
    let debug = netdns.iter().rev().find_map(NetdnsValue::debug_digits);
    let item = match debug {
        Some(level) if !level.is_empty() => format!("netdns=go+{level}"),
        _ => NETDNS_GO.to_owned(),
    };
    let why = if cgo_everywhere {
        RewriteReason::OverrodeCgo
    } else if single && netdns[0].mode.is_none() && netdns[0].debug.is_some() {
        RewriteReason::DebugLevelOnly
    } else {
        RewriteReason::Normalised
    };
    Merge::Rewrite {
        value: replace_netdns_items(godebug, &item),
        why,
    }
}

/// Puts `item` where the last netdns(-like) item was and drops the others, keeping
/// every other item byte for byte and in order.
fn replace_netdns_items(godebug: &str, item: &str) -> String {
    let is_netdns = |i: &Item<'_>| matches!(i, Item::Netdns(_) | Item::Misspelt(_));
    let last = items(godebug)
        .enumerate()
        .filter(|(_, i)| is_netdns(i))
        .last();
    let last_index = last.map(|(index, _)| index);
    let kept: Vec<&str> = items(godebug)
        .enumerate()
        .filter_map(|(index, i)| match i {
            _ if Some(index) == last_index => Some(item),
            Item::Other(raw) => Some(raw),
            _ => None,
        })
        .collect();
    kept.join(",")
}

/// True when `godebug` holds exactly one `netdns` item and it selects Go on every
/// Go version: the invariant every value this engine writes keeps.
pub fn is_safe(godebug: &str) -> bool {
    let netdns_items = items(godebug)
        .filter(|i| matches!(i, Item::Netdns(_) | Item::Misspelt(_)))
        .count();
    let on_every_version = effective(godebug);
    netdns_items == 1
        && on_every_version.go_1_19 == ForcedResolver::Go
        && on_every_version.go_1_20 == ForcedResolver::Go
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(input: &str, override_cgo: bool) -> String {
        match merge(input, override_cgo) {
            Merge::Rewrite { value, .. } => value,
            other => panic!("{input:?}: expected a rewrite, got {other:?}"),
        }
    }

    #[test]
    fn empty_value_becomes_netdns_go() {
        assert_eq!(rewritten("", false), "netdns=go");
    }

    #[test]
    fn other_items_are_kept_byte_for_byte_and_netdns_appended() {
        assert_eq!(rewritten("http2client=0", false), "http2client=0,netdns=go");
        assert_eq!(
            rewritten("x509ignoreCN=0,http2debug=1", false),
            "x509ignoreCN=0,http2debug=1,netdns=go"
        );
        // Odd but legal items survive untouched: no trimming, no re-spacing.
        assert_eq!(rewritten("a=1, b=2", false), "a=1, b=2,netdns=go");
        assert_eq!(rewritten("a=1,", false), "a=1,netdns=go");
    }

    #[test]
    fn go_mode_in_every_spelling_is_left_alone() {
        for value in [
            "netdns=go",
            "netdns=go+1",
            "netdns=go+2",
            "netdns=1+go",
            "a=1,netdns=go,b=2",
        ] {
            assert_eq!(merge(value, false), Merge::AlreadyGo, "{value}");
        }
    }

    #[test]
    fn bare_debug_level_gains_the_go_mode() {
        assert_eq!(rewritten("netdns=1", false), "netdns=go+1");
        assert_eq!(
            rewritten("http2client=0,netdns=2", false),
            "http2client=0,netdns=go+2"
        );
        assert!(matches!(
            merge("netdns=1", false),
            Merge::Rewrite {
                why: RewriteReason::DebugLevelOnly,
                ..
            }
        ));
    }

    #[test]
    fn explicit_cgo_is_kept_unless_the_policy_overrides_it() {
        for value in [
            "netdns=cgo",
            "netdns=cgo+1",
            "netdns=go+cgo",
            "netdns=2+cgo",
        ] {
            assert_eq!(merge(value, false), Merge::KeptCgo, "{value}");
        }
        assert_eq!(rewritten("netdns=cgo", true), "netdns=go");
        assert_eq!(rewritten("netdns=cgo+1", true), "netdns=go+1");
        assert_eq!(
            rewritten("a=1,netdns=go+cgo,b=2", true),
            "a=1,netdns=go,b=2"
        );
    }

    #[test]
    fn unknown_modes_and_repeats_collapse_to_one_go_item() {
        assert_eq!(rewritten("netdns=", false), "netdns=go");
        assert_eq!(rewritten("netdns=Go", false), "netdns=go");
        assert_eq!(rewritten("netdns=foo+3", false), "netdns=go+3");
        assert_eq!(rewritten("netdns=go,netdns=go", false), "netdns=go");
        // Go 1.19 reads cgo here and Go 1.20 reads go: ambiguous, so normalised even
        // without overrideCgo.
        assert_eq!(
            rewritten("netdns=cgo,x=1,netdns=go", false),
            "x=1,netdns=go"
        );
        assert_eq!(
            rewritten("netdns=go,x=1,netdns=cgo", false),
            "x=1,netdns=go"
        );
    }

    #[test]
    fn misspelt_netdns_items_are_replaced_not_duplicated() {
        assert_eq!(rewritten(" netdns=go", false), "netdns=go");
        assert_eq!(rewritten("a=1,NETDNS=go", false), "a=1,netdns=go");
        assert_eq!(rewritten("netdns", false), "netdns=go");
        assert_eq!(rewritten("netdns=go, netdns=cgo", false), "netdns=go");
    }

    #[test]
    fn go_parses_netdns_values_at_the_first_plus() {
        assert_eq!(NetdnsValue::parse("go+cgo").resolver(), ForcedResolver::Cgo);
        assert_eq!(NetdnsValue::parse("cgo+go").resolver(), ForcedResolver::Go);
        assert_eq!(NetdnsValue::parse("1+go").resolver(), ForcedResolver::Go);
        assert_eq!(
            NetdnsValue::parse("GO").resolver(),
            ForcedResolver::NotForced
        );
        assert_eq!(NetdnsValue::parse("2").debug, Some("2"));
    }

    #[test]
    fn first_wins_on_old_go_and_last_wins_on_new_go() {
        let e = effective("netdns=cgo,netdns=go");
        assert_eq!(e.go_1_19, ForcedResolver::Cgo);
        assert_eq!(e.go_1_20, ForcedResolver::Go);
        assert!(!is_safe("netdns=cgo,netdns=go"));
        assert!(!is_safe(" netdns=go"));
        assert!(is_safe("x=1,netdns=go+2"));
    }

    #[test]
    fn every_rewrite_is_safe() {
        for input in [
            "",
            "a=1",
            "netdns=1",
            "netdns=cgo",
            "netdns=go,netdns=cgo",
            " netdns=go",
            "netdns=x",
            "a=1,,b=2",
            ",",
            "netdns=go+cgo,netdns=1",
        ] {
            if let Merge::Rewrite { value, .. } = merge(input, true) {
                assert!(is_safe(&value), "{input:?} -> {value:?}");
            }
        }
    }
}
