//! Borrowed, read-only views of the parts of a pod the engine looks at.
//!
//! The engine never decodes a whole pod: the webhook decodes these views straight
//! from the request bytes and the dry-run from an already parsed document, borrowing
//! strings instead of copying them. Everything else in the object is skipped by serde
//! and so can never be changed by mistake. List fields are `Option` because "absent"
//! and "empty" need different JSON Patch operations.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

/// A string borrowed from the input where possible.
pub type Str<'a> = Cow<'a, str>;

/// A pod, or the pod template inside a workload (same shape: metadata and spec).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodView<'a> {
    #[serde(borrow, default)]
    pub metadata: Option<MetaView<'a>>,
    #[serde(borrow, default)]
    pub spec: Option<PodSpecView<'a>>,
}

/// The metadata fields targeting and the status annotation need.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaView<'a> {
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub generate_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub namespace: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub labels: Option<BTreeMap<Str<'a>, Str<'a>>>,
    #[serde(borrow, default)]
    pub annotations: Option<BTreeMap<Str<'a>, Str<'a>>>,
}

/// The pod spec fields that decide which resolver Go picks.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecView<'a> {
    #[serde(borrow, default)]
    pub containers: Option<Vec<ContainerView<'a>>>,
    #[serde(borrow, default)]
    pub init_containers: Option<Vec<ContainerView<'a>>>,
    #[serde(borrow, default)]
    pub dns_policy: Option<Str<'a>>,
    #[serde(default)]
    pub host_network: Option<bool>,
    #[serde(borrow, default)]
    pub dns_config: Option<DnsConfigView<'a>>,
    #[serde(borrow, default)]
    pub volumes: Option<Vec<NamedView<'a>>>,
}

/// `spec.dnsConfig`: only its options change what Go does.
#[derive(Debug, Default, Deserialize)]
pub struct DnsConfigView<'a> {
    #[serde(borrow, default)]
    pub options: Option<Vec<DnsOptionView<'a>>>,
}

/// One `spec.dnsConfig.options[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DnsOptionView<'a> {
    #[serde(borrow, default)]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub value: Option<Str<'a>>,
}

/// A container (regular or init).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView<'a> {
    #[serde(borrow, default)]
    pub name: Str<'a>,
    #[serde(borrow, default)]
    pub image: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub env: Option<Vec<EnvVarView<'a>>>,
    /// Only the count matters: what `envFrom` brings in cannot be seen.
    #[serde(default)]
    pub env_from: Option<Vec<IgnoredAny>>,
    #[serde(borrow, default)]
    pub volume_mounts: Option<Vec<MountView<'a>>>,
}

/// One `env[]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarView<'a> {
    #[serde(borrow, default)]
    pub name: Str<'a>,
    #[serde(borrow, default)]
    pub value: Option<Str<'a>>,
    /// Present when the value comes from a Secret, ConfigMap or field: unseen.
    #[serde(default)]
    pub value_from: Option<IgnoredAny>,
}

impl EnvVarView<'_> {
    /// The literal value Kubernetes would set (a missing `value` is the empty string),
    /// or `None` when it comes from `valueFrom` and cannot be seen.
    pub fn literal(&self) -> Option<&str> {
        match (&self.value_from, &self.value) {
            (Some(_), _) => None,
            (None, Some(v)) => Some(v),
            (None, None) => Some(""),
        }
    }
}

/// A volume (only its name matters).
#[derive(Debug, Default, Deserialize)]
pub struct NamedView<'a> {
    #[serde(borrow, default)]
    pub name: Str<'a>,
}

/// A volume mount (which volume, and where).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountView<'a> {
    #[serde(borrow, default)]
    pub name: Str<'a>,
    #[serde(borrow, default)]
    pub mount_path: Str<'a>,
}
