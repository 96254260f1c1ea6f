//! Every row of the verdict table (the `verdict` module's documentation), and
//! the order the rows are tried in, on binaries described field by field.

use netdns_guard_buildinfo::verdict::{
    CgoBecause, PreferredBecause, PureGoBecause, UnknownBecause,
};
use netdns_guard_buildinfo::{
    BuildInfo, BuildSetting, Caveat, ElfFacts, Encoding, GlibcMark, GoBinary, Linkage, Presence,
    Risk, Source, Verdict,
};

const FOUND: Presence = Presence::Found(Source::SymbolTable);

fn binary(settings: &[(&str, &str)], resolver: Presence) -> GoBinary {
    GoBinary {
        build: BuildInfo {
            go_version: "go1.23.5".into(),
            path: Some("example.com/agent".into()),
            main: None,
            deps: Vec::new(),
            settings: settings
                .iter()
                .map(|(k, v)| BuildSetting {
                    key: (*k).into(),
                    value: (*v).into(),
                })
                .collect(),
        },
        encoding: Encoding::Inline { pointer_size: 8 },
        elf: ElfFacts {
            linkage: Linkage::Dynamic {
                interpreter: "/lib64/ld-linux-x86-64.so.2".into(),
                needed: vec!["libc.so.6".into()],
            },
            symbol_table: true,
            cgo_resolver: resolver,
            cgo_runtime: FOUND,
            static_glibc: None,
        },
    }
}

fn verdict(settings: &[(&str, &str)], resolver: Presence) -> Verdict {
    binary(settings, resolver).assess().verdict
}

const CGO: (&str, &str) = ("CGO_ENABLED", "1");

#[test]
fn cgo_disabled_is_pure_go_whatever_else_is_there() {
    let v = verdict(
        &[
            ("CGO_ENABLED", "0"),
            ("-tags", "netcgo"),
            ("DefaultGODEBUG", "netdns=cgo"),
        ],
        FOUND,
    );
    assert_eq!(
        v,
        Verdict::PureGo {
            because: PureGoBecause::CgoDisabled
        }
    );
    assert_eq!(v.risk(), Risk::Safe);
}

#[test]
fn netgo_tag_is_pure_go() {
    for tags in ["netgo", "osusergo,netgo", "netgo,osusergo"] {
        assert_eq!(
            verdict(&[CGO, ("-tags", tags)], FOUND),
            Verdict::PureGo {
                because: PureGoBecause::NetgoTag
            },
            "{tags}"
        );
    }
    // Only the exact tag counts.
    assert_ne!(
        verdict(&[CGO, ("-tags", "netgoish")], FOUND),
        Verdict::PureGo {
            because: PureGoBecause::NetgoTag
        }
    );
}

#[test]
fn cgo_without_the_resolver_linked_is_pure_go() {
    for source in [Source::SymbolTable, Source::FunctionNames] {
        assert_eq!(
            verdict(&[CGO, ("-tags", "netcgo")], Presence::Absent(source)),
            Verdict::PureGo {
                because: PureGoBecause::ResolverNotLinked { seen_in: source }
            }
        );
    }
}

#[test]
fn default_godebug_netdns_go_is_safe_with_a_caveat() {
    let b = binary(
        &[
            CGO,
            ("-tags", "netcgo"),
            ("DefaultGODEBUG", "panicnil=1,netdns=go+1"),
        ],
        FOUND,
    );
    let a = b.assess();
    assert_eq!(
        a.verdict,
        Verdict::GoByDefault {
            netdns: "go+1".into()
        }
    );
    assert_eq!(a.risk, Risk::Safe);
    assert_eq!(a.caveats, [Caveat::EnvironmentOverridesDefault]);
}

#[test]
fn default_godebug_netdns_cgo_and_netcgo_prefer_cgo() {
    assert_eq!(
        verdict(&[CGO, ("DefaultGODEBUG", "netdns=cgo")], FOUND),
        Verdict::CgoPreferred {
            because: PreferredBecause::DefaultGodebug {
                netdns: "cgo".into()
            }
        }
    );
    let v = verdict(&[CGO, ("-tags", "netcgo")], Presence::Unknown);
    assert_eq!(
        v,
        Verdict::CgoPreferred {
            because: PreferredBecause::NetcgoTag
        }
    );
    assert_eq!(v.risk(), Risk::AtRisk);
    // A debug-level-only netdns in the default selects no mode.
    assert_eq!(
        verdict(
            &[CGO, ("-tags", "netcgo"), ("DefaultGODEBUG", "netdns=2")],
            FOUND
        ),
        Verdict::CgoPreferred {
            because: PreferredBecause::NetcgoTag
        }
    );
}

#[test]
fn android_prefers_cgo() {
    assert_eq!(
        verdict(&[CGO, ("GOOS", "android")], FOUND),
        Verdict::CgoPreferred {
            because: PreferredBecause::Platform {
                goos: "android".into()
            }
        }
    );
}

#[test]
fn cgo_without_netgo_takes_cgo_when_triggered() {
    for resolver in [
        FOUND,
        Presence::Found(Source::FunctionNames),
        Presence::Unknown,
    ] {
        let v = verdict(&[CGO, ("-tags", "osusergo"), ("GOOS", "linux")], resolver);
        assert_eq!(
            v,
            Verdict::CgoWhenTriggered {
                because: CgoBecause::CgoWithoutNetgo
            }
        );
        assert_eq!(v.risk(), Risk::AtRisk);
    }
}

#[test]
fn without_build_settings_the_symbols_decide() {
    let source = Source::FunctionNames;
    assert_eq!(
        verdict(&[], Presence::Found(source)),
        Verdict::CgoWhenTriggered {
            because: CgoBecause::ResolverLinked { seen_in: source }
        }
    );
    assert_eq!(
        verdict(&[], Presence::Absent(source)),
        Verdict::PureGo {
            because: PureGoBecause::ResolverNotLinked { seen_in: source }
        }
    );
    let v = verdict(&[], Presence::Unknown);
    assert_eq!(
        v,
        Verdict::Unknown {
            because: UnknownBecause::NoSettingsNoSymbols
        }
    );
    assert_eq!(v.risk(), Risk::Unknown);
    // Settings without CGO_ENABLED are no better than none.
    assert_eq!(
        verdict(&[("-tags", "netgo")], Presence::Unknown).risk(),
        Risk::Unknown
    );
}

#[test]
fn static_glibc_with_cgo_gets_the_os_user_caveat_unless_osusergo() {
    let mut b = binary(&[CGO], FOUND);
    b.elf.linkage = Linkage::Static;
    b.elf.static_glibc = Some(GlibcMark::LibcStartMainSymbol);
    assert_eq!(
        b.assess().caveats,
        [Caveat::OsUserStaticGlibc {
            seen_as: GlibcMark::LibcStartMainSymbol
        }]
    );
    // The caveat is about os/user, so it stands even when the resolver is safe.
    b.build.settings.push(BuildSetting {
        key: "-tags".into(),
        value: "netgo".into(),
    });
    assert_eq!(b.assess().caveats.len(), 1);
    b.build.settings.push(BuildSetting {
        key: "-tags".into(),
        value: "netgo,osusergo".into(),
    });
    assert!(b.assess().caveats.is_empty());
}

#[test]
fn verdicts_serialize_as_tagged_data() {
    let v = verdict(&[CGO], FOUND);
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({"resolver": "cgo-when-triggered", "because": {"kind": "cgo-without-netgo"}})
    );
    let v = verdict(&[], Presence::Absent(Source::FunctionNames));
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({"resolver": "pure-go", "because": {"kind": "resolver-not-linked", "seen_in": "function-names"}})
    );
}
