//! What in a pod's DNS set-up makes Go pick the cgo resolver, and the
//! `resolver-config` strategy's fixes for it (ARCHITECTURE.md, "Why Go takes the cgo resolver", "The resolver-config strategy").
//!
//! Go reads resolv.conf with its own parser and falls back to cgo on any option it
//! does not know; Kubernetes writes `spec.dnsConfig.options[]` into resolv.conf as
//! `name:value` (or `name` when the value is empty). So an option is judged by its
//! rendered text, exactly as Go sees it.

use super::model::{DnsOptionView, EnvVarView, PodSpecView};
use super::report::Finding;
use crate::policy::GoFloor;

/// Annotation whose value the nsswitch volume projects into the container.
pub const NSSWITCH_ANNOTATION: &str = "netdns-guard.io/nsswitch";
/// Name of the downwardAPI volume carrying the safe nsswitch.conf.
pub const NSSWITCH_VOLUME: &str = "netdns-guard-nsswitch";
/// Where the safe file is mounted.
pub const NSSWITCH_PATH: &str = "/etc/nsswitch.conf";
/// File name inside the volume (mounted by subPath).
pub const NSSWITCH_FILE: &str = "nsswitch.conf";
/// A safe nsswitch.conf: `hosts: files dns` with spaces (tabs make Go use cgo), and
/// plain `files` for the other databases so cgo `os/user` lookups keep working.
pub const NSSWITCH_CONTENT: &str = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n";

/// Options Go reads on every version we support (1.19 and later).
pub const FLAGS: &[&str] = &[
    "rotate",
    "single-request",
    "single-request-reopen",
    "use-vc",
    "usevc",
    "tcp",
];
/// Options Go reads from 1.20 on; Go 1.19 falls back to cgo on them.
pub const FLAGS_SINCE_1_20: &[&str] = &["edns0", "trust-ad", "no-reload"];
/// Options that carry a value after a colon.
pub const VALUED: &[&str] = &["ndots:", "timeout:", "attempts:"];

/// Environment variables whose presence makes Go pick cgo.
pub const TRIGGER_VARS: &[&str] = &["LOCALDOMAIN", "RES_OPTIONS", "HOSTALIASES"];

/// Renders a dnsConfig option the way kubelet writes it into resolv.conf.
pub fn render(option: &DnsOptionView<'_>) -> String {
    let name = option.name.as_deref().unwrap_or("");
    match option.value.as_deref() {
        Some(value) if !value.is_empty() => format!("{name}:{value}"),
        _ => name.to_owned(),
    }
}

/// How Go reads one rendered resolv.conf option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionSupport {
    /// Known to every Go version.
    Always,
    /// Known from Go 1.20 on.
    Since120,
    /// Unknown to every Go version.
    Never,
}

/// Classifies a rendered option with Go's `dnsconfig_unix.go` rules.
pub fn support(rendered: &str) -> OptionSupport {
    if VALUED.iter().any(|prefix| rendered.starts_with(prefix)) || FLAGS.contains(&rendered) {
        OptionSupport::Always
    } else if FLAGS_SINCE_1_20.contains(&rendered) {
        OptionSupport::Since120
    } else {
        OptionSupport::Never
    }
}

/// Whether Go at `floor` and later reads `rendered` without falling back to cgo.
pub fn known_at(rendered: &str, floor: GoFloor) -> bool {
    match support(rendered) {
        OptionSupport::Always => true,
        OptionSupport::Since120 => floor >= GoFloor::Go120,
        OptionSupport::Never => false,
    }
}

/// The finding for an option Go does not know at `floor`, if any.
pub fn option_finding(rendered: &str, floor: GoFloor) -> Option<Finding> {
    if known_at(rendered, floor) {
        return None;
    }
    let unknown_below = (support(rendered) == OptionSupport::Since120).then(|| "1.20".to_owned());
    Some(Finding::UnknownResolvOption {
        option: rendered.to_owned(),
        unknown_below,
    })
}

/// What the `resolver-config` strategy does with one option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionFix {
    /// Go reads it: keep as is.
    Keep,
    /// A known flag given a value (`rotate:1`): keep the bare flag.
    DropValue,
    /// Nothing Go reads can be made of it: remove it.
    Remove,
}

/// Decides the fix for one option at `floor`.
pub fn option_fix(option: &DnsOptionView<'_>, floor: GoFloor) -> OptionFix {
    if known_at(&render(option), floor) {
        return OptionFix::Keep;
    }
    let name = option.name.as_deref().unwrap_or("");
    if known_at(name, floor) {
        OptionFix::DropValue
    } else {
        OptionFix::Remove
    }
}

/// The dnsPolicy under which the pod's resolv.conf is the node's, if it is.
pub fn inherits_node_resolv_conf(spec: &PodSpecView<'_>) -> Option<String> {
    let host_network = spec.host_network.unwrap_or(false);
    match spec.dns_policy.as_deref() {
        Some("Default") => Some("Default".to_owned()),
        // ClusterFirst (the default) falls back to Default for hostNetwork pods.
        Some("ClusterFirst") | None if host_network => {
            Some("ClusterFirst with hostNetwork".to_owned())
        }
        _ => None,
    }
}

/// Findings for the pod's DNS set-up at `floor`.
pub fn pod_findings(spec: &PodSpecView<'_>, floor: GoFloor) -> Vec<Finding> {
    let options = spec
        .dns_config
        .as_ref()
        .and_then(|c| c.options.as_deref())
        .unwrap_or_default();
    let mut findings: Vec<Finding> = options
        .iter()
        .filter_map(|o| option_finding(&render(o), floor))
        .collect();
    if let Some(dns_policy) = inherits_node_resolv_conf(spec) {
        findings.push(Finding::NodeResolvConf { dns_policy });
    }
    findings
}

/// Whether an env entry makes Go pick cgo (`Some(true)`), may do so unseen
/// (`None`, from `valueFrom`), or does not (`Some(false)`).
pub fn env_triggers_cgo(var: &EnvVarView<'_>) -> Option<bool> {
    if !TRIGGER_VARS.contains(&var.name.as_ref()) {
        return Some(false);
    }
    let value = var.literal()?;
    // LOCALDOMAIN counts when merely present; the others when non-empty.
    Some(var.name == "LOCALDOMAIN" || !value.is_empty())
}

/// The finding for one env entry, if it bears on the resolver.
pub fn env_finding(var: &EnvVarView<'_>) -> Option<Finding> {
    match env_triggers_cgo(var) {
        Some(false) => None,
        None => Some(Finding::EnvValueUnseen {
            name: var.name.to_string(),
        }),
        Some(true) => Some(match var.name.as_ref() {
            "LOCALDOMAIN" => Finding::LocaldomainSet,
            "RES_OPTIONS" => Finding::ResOptionsSet,
            _ => Finding::HostaliasesSet,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn opt<'a>(name: &'a str, value: Option<&'a str>) -> DnsOptionView<'a> {
        DnsOptionView {
            name: Some(Cow::Borrowed(name)),
            value: value.map(Cow::Borrowed),
        }
    }

    #[test]
    fn options_render_like_kubelet() {
        assert_eq!(render(&opt("ndots", Some("2"))), "ndots:2");
        assert_eq!(render(&opt("edns0", None)), "edns0");
        assert_eq!(render(&opt("edns0", Some(""))), "edns0");
    }

    #[test]
    fn go_knows_the_documented_options() {
        for o in [
            "ndots:5",
            "timeout:1",
            "attempts:3",
            "rotate",
            "single-request",
            "single-request-reopen",
            "use-vc",
            "usevc",
            "tcp",
        ] {
            assert!(known_at(o, GoFloor::Go119), "{o}");
        }
        for o in ["edns0", "trust-ad", "no-reload"] {
            assert!(!known_at(o, GoFloor::Go119), "{o}");
            assert!(known_at(o, GoFloor::Go120), "{o}");
        }
        for o in ["rotate:1", "ndots", "inet6", "debug", "EDNS0", ""] {
            assert!(!known_at(o, GoFloor::Go120), "{o}");
        }
    }

    #[test]
    fn fixes_keep_rewrite_or_remove() {
        assert_eq!(
            option_fix(&opt("ndots", Some("2")), GoFloor::Go119),
            OptionFix::Keep
        );
        assert_eq!(
            option_fix(&opt("rotate", Some("1")), GoFloor::Go119),
            OptionFix::DropValue
        );
        assert_eq!(
            option_fix(&opt("edns0", None), GoFloor::Go119),
            OptionFix::Remove
        );
        assert_eq!(
            option_fix(&opt("edns0", None), GoFloor::Go120),
            OptionFix::Keep
        );
        assert_eq!(
            option_fix(&opt("edns0", Some("1")), GoFloor::Go120),
            OptionFix::DropValue
        );
        assert_eq!(
            option_fix(&opt("ndots", None), GoFloor::Go120),
            OptionFix::Remove
        );
        assert_eq!(
            option_fix(&opt("inet6", None), GoFloor::Go120),
            OptionFix::Remove
        );
    }

    #[test]
    fn findings_name_the_option_and_the_version() {
        assert_eq!(
            option_finding("edns0", GoFloor::Go119),
            Some(Finding::UnknownResolvOption {
                option: "edns0".into(),
                unknown_below: Some("1.20".into())
            })
        );
        assert_eq!(option_finding("edns0", GoFloor::Go120), None);
    }

    #[test]
    fn node_resolv_conf_is_inherited_by_default_and_host_network_cluster_first() {
        let spec = |policy: Option<&'static str>, host: bool| PodSpecView {
            dns_policy: policy.map(Cow::Borrowed),
            host_network: Some(host),
            ..Default::default()
        };
        assert!(inherits_node_resolv_conf(&spec(Some("Default"), false)).is_some());
        assert!(inherits_node_resolv_conf(&spec(None, true)).is_some());
        assert!(inherits_node_resolv_conf(&spec(Some("ClusterFirst"), true)).is_some());
        assert!(inherits_node_resolv_conf(&spec(Some("ClusterFirstWithHostNet"), true)).is_none());
        assert!(inherits_node_resolv_conf(&spec(Some("None"), true)).is_none());
        assert!(inherits_node_resolv_conf(&spec(None, false)).is_none());
    }

    #[test]
    fn resolver_env_triggers_follow_go() {
        let var = |name: &'static str, value: Option<&'static str>| EnvVarView {
            name: Cow::Borrowed(name),
            value: value.map(Cow::Borrowed),
            value_from: None,
        };
        assert_eq!(env_triggers_cgo(&var("LOCALDOMAIN", Some(""))), Some(true));
        assert_eq!(env_triggers_cgo(&var("LOCALDOMAIN", None)), Some(true));
        assert_eq!(env_triggers_cgo(&var("RES_OPTIONS", Some(""))), Some(false));
        assert_eq!(
            env_triggers_cgo(&var("RES_OPTIONS", Some("ndots:1"))),
            Some(true)
        );
        assert_eq!(
            env_triggers_cgo(&var("HOSTALIASES", Some("/etc/h"))),
            Some(true)
        );
        assert_eq!(env_triggers_cgo(&var("PATH", Some("/bin"))), Some(false));
        let unseen = EnvVarView {
            value_from: Some(serde::de::IgnoredAny),
            ..var("RES_OPTIONS", None)
        };
        assert_eq!(env_triggers_cgo(&unseen), None);
    }
}
