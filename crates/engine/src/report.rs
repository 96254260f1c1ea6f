//! What the engine found and did, in a form the CLI prints, the webhook logs and
//! turns into warnings, and tools read as JSON.
//!
//! Every message names a condition a user can check or reproduce (the resolver lab
//! exercises the same ones), and says what was done about it.

use std::fmt;

use serde::Serialize;

use super::catalog::Risk;
use crate::policy::Strategy;

/// The engine's report on one pod or pod template.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodReport {
    /// Why containers were or were not targeted.
    pub targeting: Targeting,
    /// The strategy applied to target containers.
    pub strategy: Strategy,
    /// One entry per init container, then per container, in spec order.
    pub containers: Vec<ContainerReport>,
    /// Pod-wide conditions that make Go pick cgo (DNS set-up).
    pub dns: Vec<Finding>,
    /// Pod-wide changes (dnsConfig options, the nsswitch volume).
    pub dns_changes: Vec<Change>,
    /// Warnings for the user, whole: the webhook cuts them to the apiserver's
    /// length limit when it sends them.
    pub warnings: Vec<String>,
    /// The `netdns-guard.io/status` annotation written, when anything changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl PodReport {
    /// Whether the engine changed anything.
    pub fn changed(&self) -> bool {
        self.status.is_some()
    }

    /// Names of containers that were changed.
    pub fn changed_containers(&self) -> impl Iterator<Item = &str> {
        self.containers
            .iter()
            .filter(|c| !c.changes.is_empty())
            .map(|c| c.name.as_str())
    }
}

/// Why the pod's containers were, or were not, targeted (ARCHITECTURE.md, "Targeting", in order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Targeting {
    /// `netdns-guard.io/inject: "false"`: never touched.
    OptedOut,
    /// `netdns-guard.io/inject: "true"`: every container.
    OptedIn,
    /// The pod is in a namespace the policy skips.
    NamespaceSkipped { namespace: String },
    /// A policy label selector matched: every container.
    Selector { index: usize },
    /// At least one container's image is an at-risk catalog entry.
    Catalog,
    /// No container is a known at-risk agent.
    NoAgent,
}

impl fmt::Display for Targeting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Targeting::OptedOut => f.write_str("opted out (netdns-guard.io/inject: \"false\")"),
            Targeting::OptedIn => {
                f.write_str("opted in (netdns-guard.io/inject: \"true\"): all containers")
            }
            Targeting::NamespaceSkipped { namespace } => {
                write!(f, "namespace {namespace} is skipped by policy")
            }
            Targeting::Selector { index } => {
                write!(f, "policy selector {index} matches: all containers")
            }
            Targeting::Catalog => f.write_str("image catalog: at-risk agent found"),
            Targeting::NoAgent => f.write_str("no at-risk agent image"),
        }
    }
}

/// init container or container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerKind {
    InitContainer,
    Container,
}

impl ContainerKind {
    /// The pod spec field holding this kind of container.
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::InitContainer => "initContainers",
            ContainerKind::Container => "containers",
        }
    }
}

/// The verdict on one container, as found (before any change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// GODEBUG already forces the Go resolver on every Go version.
    Protected,
    /// A cgo-built Go agent that can take the cgo resolver.
    AtRisk,
    /// Pure-Go build or not Go at all.
    NotAtRisk,
    /// Image not in the catalog.
    Unknown,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Protected => "protected",
            Verdict::AtRisk => "at risk",
            Verdict::NotAtRisk => "not at risk",
            Verdict::Unknown => "unknown",
        })
    }
}

/// The catalog entry an image matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentMatch {
    pub id: String,
    pub name: String,
    pub risk: Risk,
    pub reason: String,
}

/// The report on one container.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    pub name: String,
    pub kind: ContainerKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentMatch>,
    /// Whether the policy made this container a target.
    pub target: bool,
    pub verdict: Verdict,
    /// Conditions in this container's env that bear on the resolver.
    pub findings: Vec<Finding>,
    /// What was changed in this container.
    pub changes: Vec<Change>,
}

/// A condition that makes Go pick (or stops it picking) the cgo resolver, or a
/// value that cannot be seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "code",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Finding {
    /// `LOCALDOMAIN` is set (even empty): Go uses cgo.
    LocaldomainSet,
    /// `RES_OPTIONS` is non-empty: Go uses cgo.
    ResOptionsSet,
    /// `HOSTALIASES` is non-empty: Go uses cgo.
    HostaliasesSet,
    /// A resolver variable comes from `valueFrom`: it may trigger cgo.
    EnvValueUnseen { name: String },
    /// `envFrom` may set GODEBUG or resolver variables that cannot be seen.
    EnvFromUnseen,
    /// GODEBUG forces the Go resolver on every Go version.
    GodebugForcesGo,
    /// GODEBUG explicitly chooses cgo.
    GodebugForcesCgo,
    /// GODEBUG has several netdns items read differently by Go ≤ 1.19 and ≥ 1.20.
    GodebugAmbiguous,
    /// A `dnsConfig` option renders to a resolv.conf option Go does not know.
    UnknownResolvOption {
        option: String,
        unknown_below: Option<String>,
    },
    /// The pod inherits the node's resolv.conf, whose options cannot be seen.
    NodeResolvConf { dns_policy: String },
}

impl Finding {
    /// Whether this condition makes Go pick the cgo resolver (as opposed to
    /// describing GODEBUG or a value that cannot be seen).
    pub fn triggers_cgo(&self) -> bool {
        matches!(
            self,
            Finding::LocaldomainSet
                | Finding::ResOptionsSet
                | Finding::HostaliasesSet
                | Finding::UnknownResolvOption { .. }
                | Finding::NodeResolvConf { .. }
        )
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::LocaldomainSet => f.write_str("LOCALDOMAIN is set: Go takes the cgo resolver"),
            Finding::ResOptionsSet => f.write_str("RES_OPTIONS is set: Go takes the cgo resolver"),
            Finding::HostaliasesSet => f.write_str("HOSTALIASES is set: Go takes the cgo resolver"),
            Finding::EnvValueUnseen { name } => write!(
                f,
                "{name} comes from valueFrom: its value cannot be checked"
            ),
            Finding::EnvFromUnseen => {
                f.write_str("envFrom may set GODEBUG or resolver variables that cannot be checked")
            }
            Finding::GodebugForcesGo => {
                f.write_str("GODEBUG netdns=go already forces the pure-Go resolver")
            }
            Finding::GodebugForcesCgo => {
                f.write_str("GODEBUG netdns explicitly selects the cgo resolver")
            }
            Finding::GodebugAmbiguous => f.write_str(
                "GODEBUG has several netdns items: Go ≤1.19 reads the first, Go ≥1.20 the last",
            ),
            Finding::UnknownResolvOption {
                option,
                unknown_below: None,
            } => {
                write!(
                    f,
                    "resolv.conf option {option:?} is unknown to Go: it takes the cgo resolver"
                )
            }
            Finding::UnknownResolvOption {
                option,
                unknown_below: Some(v),
            } => {
                write!(
                    f,
                    "resolv.conf option {option:?} is unknown to Go < {v}: it takes the cgo resolver"
                )
            }
            Finding::NodeResolvConf { dns_policy } => {
                write!(
                    f,
                    "dnsPolicy {dns_policy} uses the node's resolv.conf (options unseen)"
                )
            }
        }
    }
}

/// A change the engine made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "action",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Change {
    /// A GODEBUG entry was added.
    GodebugAdded { value: String },
    /// An existing GODEBUG value was rewritten.
    GodebugRewritten {
        from: String,
        to: String,
        why: String,
    },
    /// A resolver env variable that forces cgo was removed.
    EnvRemoved { name: String },
    /// The safe nsswitch.conf was mounted at /etc/nsswitch.conf.
    NsswitchMounted,
    /// A dnsConfig option Go does not know was removed.
    DnsOptionRemoved { option: String },
    /// A dnsConfig option was rewritten into a form Go knows.
    DnsOptionRewritten { from: String, to: String },
    /// The volume holding the safe nsswitch.conf was added to the pod.
    NsswitchVolumeAdded,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::GodebugAdded { value } => write!(f, "added GODEBUG={value}"),
            Change::GodebugRewritten { from, to, why } => {
                write!(f, "GODEBUG {from:?} -> {to:?} ({why})")
            }
            Change::EnvRemoved { name } => write!(f, "removed env {name}"),
            Change::NsswitchMounted => {
                f.write_str("mounted a safe /etc/nsswitch.conf (hosts: files dns)")
            }
            Change::DnsOptionRemoved { option } => write!(f, "removed dnsConfig option {option:?}"),
            Change::DnsOptionRewritten { from, to } => {
                write!(f, "dnsConfig option {from:?} -> {to:?}")
            }
            Change::NsswitchVolumeAdded => f.write_str("added volume netdns-guard-nsswitch"),
        }
    }
}
