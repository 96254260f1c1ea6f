//! Which DNS resolver a Go binary can take, from what the binary says.
//!
//! Go picks between its own resolver and libc's `getaddrinfo` (through cgo) in
//! `net/conf.go`: the cgo resolver exists only when cgo is on and the `netgo`
//! build tag is off (`net/cgo_stub.go` is built instead under
//! `//go:build !cgo || netgo`, making `cgoAvailable` false); a `netdns` GODEBUG
//! mode or the `netcgo` tag forces one side (`initConfVal`, `lookupOrder`:
//! `mustUseGoResolver` first, then `netCgo`); otherwise Go takes cgo when the
//! environment (`LOCALDOMAIN`, `RES_OPTIONS`, `HOSTALIASES`), resolv.conf,
//! nsswitch.conf or the name asks for what only libc does. Since Go 1.21 a
//! binary carries a default GODEBUG, built from its main package's
//! `//go:debug` lines and its go.mod's `go` and (Go ≥ 1.23) `godebug` lines
//! (cmd/go's `load.defaultGODEBUG`, recorded as the `DefaultGODEBUG` build
//! setting); `internal/godebug` reads the environment's `GODEBUG` first and
//! takes from the default only the keys the environment does not set.
//!
//! The table, first match wins:
//!
//! | build info | symbols | verdict | why (Go source) |
//! |---|---|---|---|
//! | `CGO_ENABLED=0` | — | [`Verdict::PureGo`] (safe) | `net/cgo_stub.go` (`!cgo`): `cgoAvailable = false`, `mustUseGoResolver` is always true |
//! | `-tags` holds `netgo` | — | [`Verdict::PureGo`] (safe) | `net/cgo_stub.go` (`netgo`), `net/netgo_on.go` |
//! | cgo on | `net._C2func_getaddrinfo` absent | [`Verdict::PureGo`] (safe) | the resolver's only call into libc (`_C_getaddrinfo` in `net/cgo_unix_cgo.go`) was not linked: the program has no cgo resolver to take |
//! | `DefaultGODEBUG` holds `netdns=go` (or `go+N`) | — | [`Verdict::GoByDefault`] (safe unless the environment's `GODEBUG` sets `netdns`) | `initConfVal`: `netGo = … \|\| dnsMode == "go"`; `internal/godebug.update` lets the environment win |
//! | `DefaultGODEBUG` holds `netdns=cgo` | — | [`Verdict::CgoPreferred`] (at risk) | `initConfVal`: `netCgo`, then `lookupOrder` returns `hostLookupCgo` |
//! | `-tags` holds `netcgo` | — | [`Verdict::CgoPreferred`] (at risk) | `net/netcgo_on.go`: `netCgoBuildTag = true` |
//! | `GOOS=android`, cgo on | — | [`Verdict::CgoPreferred`] (at risk) | `goosPrefersCgo` |
//! | `CGO_ENABLED=1`, no `netgo` | — | [`Verdict::CgoWhenTriggered`] (at risk) | `net/cgo_unix.go` (`!netgo && cgo`): `cgoAvailable = true`; the conditions in `initConfVal` and `lookupOrder` |
//! | no build settings (Go < 1.18) | `net._C2func_getaddrinfo` found | [`Verdict::CgoWhenTriggered`] (at risk) | as above; tags are not recorded, so `netcgo` cannot be told apart |
//! | no build settings | resolver absent | [`Verdict::PureGo`] (safe) | as the third row |
//! | no build settings | no symbol table and no Go function-name table | [`Verdict::Unknown`] | nothing to tell by |
//!
//! Symbols come from `.symtab` when it is there, else from Go's function-name
//! table (`.gopclntab`), which `-ldflags=-s -w` keeps: so a stripped binary is
//! still judged. What the environment does to an at-risk binary is the
//! engine's business (`GODEBUG=netdns=go` fixes every at-risk row).
//!
//! One caveat rides along: `GODEBUG=netdns=go` covers the resolver only. A cgo
//! binary with glibc linked in statically (no `PT_INTERP`; Loggie is one) also
//! calls glibc's NSS from `os/user` (`os/user/cgo_lookup_unix.go`, unless the
//! `osusergo` tag is set), and that is not covered: [`Caveat::OsUserStaticGlibc`].

use std::fmt;

use serde::Serialize;

use crate::GoBinary;
use crate::elf::{CGO_RESOLVER_FUNCTION, GlibcMark, Presence, Source};

/// How worried to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// The cgo resolver cannot run (or is off by the binary's own default).
    Safe,
    /// The cgo resolver can run: the binary needs `GODEBUG=netdns=go`.
    AtRisk,
    /// The binary does not say.
    Unknown,
}

/// What Go's resolver selection can do in this binary, and the evidence that
/// decided it (one row of the table in this module's documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "resolver", rename_all = "kebab-case")]
pub enum Verdict {
    /// Only Go's own resolver is in the binary.
    PureGo {
        /// What shows it.
        because: PureGoBecause,
    },
    /// The cgo resolver is there, but the binary's default GODEBUG picks Go's;
    /// a `GODEBUG` in the environment that sets `netdns` replaces that default.
    GoByDefault {
        /// The `netdns` value in `DefaultGODEBUG` (`go`, `go+1`, …).
        netdns: String,
    },
    /// The cgo resolver is there and Go takes it when the environment,
    /// resolv.conf, nsswitch.conf or the looked-up name ask for it.
    CgoWhenTriggered {
        /// What shows it.
        because: CgoBecause,
    },
    /// The cgo resolver is there and Go takes it for every lookup.
    CgoPreferred {
        /// What makes it preferred.
        because: PreferredBecause,
    },
    /// The binary does not say.
    Unknown {
        /// Why not.
        because: UnknownBecause,
    },
}

/// Why only Go's resolver is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PureGoBecause {
    /// Build setting `CGO_ENABLED=0`.
    CgoDisabled,
    /// `-tags` holds `netgo`.
    NetgoTag,
    /// `net._C2func_getaddrinfo` is not in the binary.
    ResolverNotLinked {
        /// Where it was looked for.
        seen_in: Source,
    },
}

/// Why the cgo resolver is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CgoBecause {
    /// Build setting `CGO_ENABLED=1` and no `netgo` tag.
    CgoWithoutNetgo,
    /// No build settings (Go < 1.18), but `net._C2func_getaddrinfo` is there.
    ResolverLinked {
        /// Where it was found.
        seen_in: Source,
    },
}

/// Why the cgo resolver is preferred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PreferredBecause {
    /// `-tags` holds `netcgo`.
    NetcgoTag,
    /// `DefaultGODEBUG` holds a `netdns` mode of `cgo`.
    DefaultGodebug {
        /// The `netdns` value (`cgo`, `cgo+1`, …).
        netdns: String,
    },
    /// Go prefers cgo on this operating system (`goosPrefersCgo`).
    Platform {
        /// The `GOOS` build setting.
        goos: String,
    },
}

/// Why the binary does not say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum UnknownBecause {
    /// No `CGO_ENABLED` build setting (Go < 1.18), no symbol table and no Go
    /// function-name table to look for the resolver in.
    NoSettingsNoSymbols,
}

/// Something to know beside the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Caveat {
    /// glibc is linked in statically and `os/user` can call its NSS through
    /// cgo (no `osusergo` tag): `netdns=go` does not cover that.
    OsUserStaticGlibc {
        /// How the static glibc shows.
        seen_as: GlibcMark,
    },
    /// The verdict rests on the binary's default GODEBUG: a `GODEBUG` in the
    /// container's environment that sets `netdns` (even just a debug level)
    /// replaces it.
    EnvironmentOverridesDefault,
}

/// A verdict and its caveats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// What Go's resolver selection can do.
    pub verdict: Verdict,
    /// How worried to be (follows from the verdict).
    pub risk: Risk,
    /// Things to know beside it.
    pub caveats: Vec<Caveat>,
}

impl Verdict {
    /// How worried to be.
    pub fn risk(&self) -> Risk {
        match self {
            Verdict::PureGo { .. } | Verdict::GoByDefault { .. } => Risk::Safe,
            Verdict::CgoWhenTriggered { .. } | Verdict::CgoPreferred { .. } => Risk::AtRisk,
            Verdict::Unknown { .. } => Risk::Unknown,
        }
    }

    /// The evidence alone, without the sentence about the resolver: e.g.
    /// `CGO_ENABLED=1 and no netgo tag` (an image's verdict quotes it).
    pub fn reason(&self) -> String {
        match self {
            Verdict::PureGo { because } => because.to_string(),
            Verdict::GoByDefault { netdns } => format!("DefaultGODEBUG has netdns={netdns}"),
            Verdict::CgoWhenTriggered { because } => because.to_string(),
            Verdict::CgoPreferred { because } => because.to_string(),
            Verdict::Unknown { because } => because.to_string(),
        }
    }
}

/// Applies the table in this module's documentation to `binary`.
pub fn assess(binary: &GoBinary) -> Assessment {
    let verdict = verdict(binary);
    let mut caveats = Vec::new();
    if matches!(verdict, Verdict::GoByDefault { .. }) {
        caveats.push(Caveat::EnvironmentOverridesDefault);
    }
    if let Some(mark) = binary.elf.static_glibc
        && binary.build.cgo_enabled() != Some(false)
        && !binary.build.has_tag("osusergo")
    {
        caveats.push(Caveat::OsUserStaticGlibc { seen_as: mark });
    }
    Assessment {
        risk: verdict.risk(),
        verdict,
        caveats,
    }
}

fn verdict(binary: &GoBinary) -> Verdict {
    let build = &binary.build;
    let resolver = binary.elf.cgo_resolver;
    let Some(cgo) = build.cgo_enabled() else {
        return from_symbols(resolver);
    };
    if !cgo {
        return pure(PureGoBecause::CgoDisabled);
    }
    if build.has_tag("netgo") {
        return pure(PureGoBecause::NetgoTag);
    }
    if let Presence::Absent(seen_in) = resolver {
        return pure(PureGoBecause::ResolverNotLinked { seen_in });
    }
    match default_netdns(build.setting("DefaultGODEBUG")) {
        Some((netdns, Mode::Go)) => return Verdict::GoByDefault { netdns },
        Some((netdns, Mode::Cgo)) => {
            return preferred(PreferredBecause::DefaultGodebug { netdns });
        }
        None => {}
    }
    if build.has_tag("netcgo") {
        return preferred(PreferredBecause::NetcgoTag);
    }
    if let Some(goos @ "android") = build.setting("GOOS") {
        return preferred(PreferredBecause::Platform {
            goos: goos.to_owned(),
        });
    }
    Verdict::CgoWhenTriggered {
        because: CgoBecause::CgoWithoutNetgo,
    }
}

/// Go < 1.18 (no build settings): the resolver's own function decides.
fn from_symbols(resolver: Presence) -> Verdict {
    match resolver {
        Presence::Found(seen_in) => Verdict::CgoWhenTriggered {
            because: CgoBecause::ResolverLinked { seen_in },
        },
        Presence::Absent(seen_in) => pure(PureGoBecause::ResolverNotLinked { seen_in }),
        Presence::Unknown => Verdict::Unknown {
            because: UnknownBecause::NoSettingsNoSymbols,
        },
    }
}

fn pure(because: PureGoBecause) -> Verdict {
    Verdict::PureGo { because }
}

fn preferred(because: PreferredBecause) -> Verdict {
    Verdict::CgoPreferred { because }
}

// --- how each verdict reads ---------------------------------------------------

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::Safe => "safe",
            Risk::AtRisk => "at risk",
            Risk::Unknown => "unknown",
        })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::PureGo { because } => write!(f, "pure-Go resolver only: {because}"),
            Verdict::GoByDefault { netdns } => write!(
                f,
                "Go resolver by the binary's default: DefaultGODEBUG has netdns={netdns}"
            ),
            Verdict::CgoWhenTriggered { because } => {
                write!(f, "cgo resolver when something asks for it: {because}")
            }
            Verdict::CgoPreferred { because } => {
                write!(f, "cgo resolver for every lookup: {because}")
            }
            Verdict::Unknown { because } => write!(f, "cannot tell: {because}"),
        }
    }
}

impl fmt::Display for PureGoBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PureGoBecause::CgoDisabled => f.write_str("CGO_ENABLED=0"),
            PureGoBecause::NetgoTag => f.write_str("built with -tags netgo"),
            PureGoBecause::ResolverNotLinked { seen_in } => {
                write!(f, "{CGO_RESOLVER_FUNCTION} is not in {seen_in}")
            }
        }
    }
}

impl fmt::Display for CgoBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CgoBecause::CgoWithoutNetgo => f.write_str("CGO_ENABLED=1 and no netgo tag"),
            CgoBecause::ResolverLinked { seen_in } => write!(
                f,
                "no build settings (Go < 1.18), and {CGO_RESOLVER_FUNCTION} is in {seen_in}"
            ),
        }
    }
}

impl fmt::Display for PreferredBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreferredBecause::NetcgoTag => f.write_str("built with -tags netcgo"),
            PreferredBecause::DefaultGodebug { netdns } => {
                write!(f, "DefaultGODEBUG has netdns={netdns}")
            }
            PreferredBecause::Platform { goos } => write!(f, "Go prefers cgo on GOOS={goos}"),
        }
    }
}

impl fmt::Display for UnknownBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnknownBecause::NoSettingsNoSymbols => f.write_str(
                "no build settings (Go < 1.18), and neither a symbol table nor Go's \
                 function names to look for the cgo resolver in",
            ),
        }
    }
}

impl fmt::Display for Caveat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caveat::OsUserStaticGlibc { seen_as } => write!(
                f,
                "glibc is linked in statically ({seen_as}) and os/user can call it through \
                 cgo: GODEBUG=netdns=go does not cover that"
            ),
            Caveat::EnvironmentOverridesDefault => f.write_str(
                "a GODEBUG in the environment that sets netdns (even only a debug level) \
                 replaces the binary's default",
            ),
        }
    }
}

/// A `netdns` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Go,
    Cgo,
}

/// The `netdns` item of a default GODEBUG and the mode it selects, if any.
///
/// Items are comma-separated `key=value` with no trimming; the last `netdns`
/// wins (Go ≥ 1.20, and a default exists only from Go 1.21). Go's
/// `goDebugNetDNS` splits the value at the first `+`; a part starting with a
/// digit is a debug level, the other is the mode, and only `go` and `cgo` are
/// modes.
fn default_netdns(default_godebug: Option<&str>) -> Option<(String, Mode)> {
    let value = default_godebug?
        .split(',')
        .filter_map(|item| item.split_once('='))
        .filter(|(key, _)| *key == "netdns")
        .map(|(_, value)| value)
        .next_back()?;
    let (head, tail) = value.split_once('+').unwrap_or((value, ""));
    let mode = [head, tail]
        .into_iter()
        .rfind(|part| !part.is_empty() && !part.starts_with(|c: char| c.is_ascii_digit()))
        .and_then(|part| match part {
            "go" => Some(Mode::Go),
            "cgo" => Some(Mode::Cgo),
            _ => None,
        })?;
    Some((value.to_owned(), mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netdns_in_a_default_godebug() {
        let mode = |s| default_netdns(Some(s)).map(|(_, m)| m);
        assert_eq!(mode("netdns=go"), Some(Mode::Go));
        assert_eq!(mode("httplaxcontentlength=1,netdns=go+2"), Some(Mode::Go));
        assert_eq!(mode("netdns=1+cgo"), Some(Mode::Cgo));
        assert_eq!(mode("netdns=cgo,netdns=go"), Some(Mode::Go));
        assert_eq!(mode("netdns=go+"), Some(Mode::Go));
        assert_eq!(mode("netdns=go+cgo"), Some(Mode::Cgo));
        assert_eq!(mode("netdns=2"), None);
        assert_eq!(mode("netdns=Go"), None);
        assert_eq!(mode(" netdns=go"), None);
        assert_eq!(mode("x509sha1=1"), None);
        assert_eq!(mode(""), None);
        assert_eq!(
            default_netdns(Some("a=1,netdns=go+1")),
            Some(("go+1".to_owned(), Mode::Go))
        );
    }
}
