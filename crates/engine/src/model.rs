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

/// Deserializers that borrow strings from the input. serde's derive borrows only
/// for fields whose type is spelled `Cow<'a, str>`: not through the `Str` alias, and
/// never inside `Option`, `Vec` or maps, where `Cow`'s own impl always copies.
pub mod borrow {
    use std::borrow::Cow;
    use std::collections::BTreeMap;
    use std::fmt;

    use serde::de::{Deserialize, Deserializer, Visitor};

    use super::StrMap;

    /// A string that borrows when the deserializer can lend it.
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    pub struct B<'a>(pub Cow<'a, str>);

    impl<'de: 'a, 'a> Deserialize<'de> for B<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Cow<'de, str>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                    Ok(Cow::Borrowed(v))
                }
                fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                    Ok(Cow::Owned(v.to_owned()))
                }
                fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                    Ok(Cow::Owned(v))
                }
            }
            d.deserialize_str(V).map(B)
        }
    }

    /// A string field.
    pub fn str<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Cow<'a, str>, D::Error> {
        B::deserialize(d).map(|b| b.0)
    }

    /// An optional string field.
    pub fn opt<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
        Option::<B>::deserialize(d).map(|o| o.map(|b| b.0))
    }

    /// An optional string-to-string map (labels, annotations).
    pub fn map<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<StrMap<'a>>, D::Error> {
        Option::<BTreeMap<B, B>>::deserialize(d)
            .map(|o| o.map(|m| m.into_iter().map(|(k, v)| (k.0, v.0)).collect()))
    }
}

/// Objects read only from JSON objects. serde's derived structs also accept an array
/// and read its items by position, so `"containers": [["agent", "img"]]` would be
/// read as a container named `agent` and answered with a patch whose paths do not
/// exist in the real (array-shaped) object. The apiserver would then refuse the
/// patch and fail the request: a webhook must never be the cause of that. Every
/// struct-typed field of the views goes through these, so such a pod is an error
/// (and the webhook fails open) instead.
pub mod shape {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::value::MapAccessDeserializer;
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

    /// `T`, read from an object only.
    pub struct Obj<T>(pub T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<T>(PhantomData<T>);
            impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
                type Value = T;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                    T::deserialize(MapAccessDeserializer::new(map))
                }
            }
            d.deserialize_map(V(PhantomData)).map(Obj)
        }
    }

    /// An optional object field.
    pub fn opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<Obj<T>>::deserialize(d).map(|o| o.map(|obj| obj.0))
    }

    /// An optional list of objects.
    pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Vec<T>>, D::Error> {
        // `Obj<T>` has `T`'s layout, so this collect reuses the vector in place.
        Option::<Vec<Obj<T>>>::deserialize(d)
            .map(|o| o.map(|items| items.into_iter().map(|obj| obj.0).collect()))
    }
}

/// A string borrowed from the input where possible.
pub type Str<'a> = Cow<'a, str>;

/// Labels or annotations.
pub type StrMap<'a> = BTreeMap<Str<'a>, Str<'a>>;

/// A pod, or the pod template inside a workload (same shape: metadata and spec).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodView<'a> {
    #[serde(borrow, default, deserialize_with = "shape::opt")]
    pub metadata: Option<MetaView<'a>>,
    #[serde(borrow, default, deserialize_with = "shape::opt")]
    pub spec: Option<PodSpecView<'a>>,
}

/// The metadata fields targeting and the status annotation need.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetaView<'a> {
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
    pub generate_name: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
    pub namespace: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "borrow::map")]
    pub labels: Option<StrMap<'a>>,
    #[serde(borrow, default, deserialize_with = "borrow::map")]
    pub annotations: Option<StrMap<'a>>,
}

/// The pod spec fields that decide which resolver Go picks.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecView<'a> {
    #[serde(borrow, default, deserialize_with = "shape::list")]
    pub containers: Option<Vec<ContainerView<'a>>>,
    #[serde(borrow, default, deserialize_with = "shape::list")]
    pub init_containers: Option<Vec<ContainerView<'a>>>,
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
    pub dns_policy: Option<Str<'a>>,
    #[serde(default)]
    pub host_network: Option<bool>,
    #[serde(borrow, default, deserialize_with = "shape::opt")]
    pub dns_config: Option<DnsConfigView<'a>>,
    #[serde(borrow, default, deserialize_with = "shape::list")]
    pub volumes: Option<Vec<NamedView<'a>>>,
}

/// `spec.dnsConfig`: only its options change what Go does.
#[derive(Debug, Default, Deserialize)]
pub struct DnsConfigView<'a> {
    #[serde(borrow, default, deserialize_with = "shape::list")]
    pub options: Option<Vec<DnsOptionView<'a>>>,
}

/// One `spec.dnsConfig.options[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DnsOptionView<'a> {
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
    pub name: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
    pub value: Option<Str<'a>>,
}

/// A container (regular or init).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerView<'a> {
    #[serde(borrow, default, deserialize_with = "borrow::str")]
    pub name: Str<'a>,
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
    pub image: Option<Str<'a>>,
    #[serde(borrow, default, deserialize_with = "shape::list")]
    pub env: Option<Vec<EnvVarView<'a>>>,
    /// Only the count matters: what `envFrom` brings in cannot be seen.
    #[serde(default)]
    pub env_from: Option<Vec<IgnoredAny>>,
    #[serde(borrow, default, deserialize_with = "shape::list")]
    pub volume_mounts: Option<Vec<MountView<'a>>>,
}

/// One `env[]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarView<'a> {
    #[serde(borrow, default, deserialize_with = "borrow::str")]
    pub name: Str<'a>,
    #[serde(borrow, default, deserialize_with = "borrow::opt")]
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
    #[serde(borrow, default, deserialize_with = "borrow::str")]
    pub name: Str<'a>,
}

/// A volume mount (which volume, and where).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountView<'a> {
    #[serde(borrow, default, deserialize_with = "borrow::str")]
    pub name: Str<'a>,
    #[serde(borrow, default, deserialize_with = "borrow::str")]
    pub mount_path: Str<'a>,
}

impl<'a> PodView<'a> {
    /// Reads a pod view from raw JSON (the webhook's and the cluster commands' path),
    /// borrowing strings from `bytes` wherever JSON escapes allow it.
    pub fn from_json(bytes: &'a [u8]) -> Result<Self, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        shape::Obj::<PodView>::deserialize(&mut de).map(|pod| pod.0)
    }
}
