//! The policy: what netdns-guard targets and how it fixes it.
//!
//! A policy is YAML, read once at start-up (and again when the file changes, in
//! `serve`). Every key is documented here and in the README's policy section; unknown keys and bad
//! values are errors that name the key and the line, never silently ignored.
//!
//! ```yaml
//! apiVersion: netdns-guard.io/v1alpha1
//! kind: Policy
//! strategy: env              # env | resolver-config | both
//! containers: matching       # matching | all
//! overrideCgo: false
//! resolverConfig:
//!   goFloor: "1.19"          # "1.19" | "1.20"
//! catalog:
//!   remove: [datadog-agent]
//!   add:
//!     - id: my-agent
//!       name: My agent
//!       risk: at-risk         # at-risk | pure-go | not-go
//!       reason: built with cgo
//!       images: [registry.corp/my-agent]
//! selectors:
//!   - matchLabels: {app.kubernetes.io/name: my-agent}
//! skipNamespaces: [kube-system]
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::catalog::CatalogEntry;

/// The API version a policy file may declare.
pub const API_VERSION: &str = "netdns-guard.io/v1alpha1";
/// The kind a policy file may declare.
pub const KIND: &str = "Policy";

/// A whole policy file. Every field has a safe default, so an empty file (or none)
/// protects the catalog's at-risk agents with the `env` strategy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    /// Optional; when present must be `netdns-guard.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Optional; when present must be `Policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Ignored; allowed so that a policy can also be a kustomize/kpt `functionConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// How target containers are protected.
    #[serde(default)]
    pub strategy: Strategy,
    /// Which containers of a pod matched by the catalog are changed.
    #[serde(default)]
    pub containers: ContainerScope,
    /// Rewrite an explicit `netdns=cgo` instead of keeping it with a warning.
    #[serde(default, deserialize_with = "yaml_bool")]
    pub override_cgo: bool,
    /// Settings of the `resolver-config` strategy.
    #[serde(default)]
    pub resolver_config: ResolverConfig,
    /// Changes to the built-in image catalog.
    #[serde(default)]
    pub catalog: CatalogChanges,
    /// Pods whose labels match any of these selectors have every container targeted.
    #[serde(default)]
    pub selectors: Vec<LabelSelector>,
    /// Namespaces whose pods are never changed (a pod's own opt-in annotation still wins).
    #[serde(default)]
    pub skip_namespaces: Vec<String>,
}

/// A boolean written as a boolean: `true`/`false` (and YAML 1.1's `yes`/`on`… as
/// kubectl reads them), never a quoted string. Kubernetes' own decoding of YAML into
/// typed fields refuses `"true"`; so does this, rather than guess what was meant.
fn yaml_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct Strict;
    impl serde::de::Visitor<'_> for Strict {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean (true or false, unquoted)")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
    }
    d.deserialize_any(Strict)
}

/// How a target container is protected (ARCHITECTURE.md, "The GODEBUG merge", "The resolver-config strategy").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Merge `netdns=go` into the container's GODEBUG.
    #[default]
    Env,
    /// Remove what makes Go pick cgo: unknown resolv.conf options, resolver env
    /// variables, and an unsafe nsswitch.conf.
    ResolverConfig,
    /// Both of the above.
    Both,
}

impl Strategy {
    /// Whether GODEBUG is edited.
    pub fn edits_env(self) -> bool {
        matches!(self, Strategy::Env | Strategy::Both)
    }
    /// Whether the pod's resolver set-up is edited.
    pub fn edits_resolver(self) -> bool {
        matches!(self, Strategy::ResolverConfig | Strategy::Both)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Env => "env",
            Strategy::ResolverConfig => "resolver-config",
            Strategy::Both => "both",
        })
    }
}

/// Which containers of a catalog-matched pod are targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerScope {
    /// Only containers whose image is an at-risk catalog entry.
    #[default]
    Matching,
    /// Every container (and init container) of a pod that has at least one.
    All,
}

/// The oldest Go version the `resolver-config` strategy must satisfy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum GoFloor {
    /// Go 1.19: `edns0`, `trust-ad` and `no-reload` are unknown options (cgo).
    #[default]
    Go119,
    /// Go 1.20 and later understand `edns0`, `trust-ad` and `no-reload`.
    Go120,
}

impl Serialize for GoFloor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            GoFloor::Go119 => "1.19",
            GoFloor::Go120 => "1.20",
        })
    }
}

impl<'de> Deserialize<'de> for GoFloor {
    /// Accepts `"1.19"`/`"1.20"` and, because YAML reads an unquoted `1.20` as the
    /// number 1.2, the numbers 1.19 and 1.2 too.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            Raw::Number(n) => format!("{n}"),
        };
        match text.as_str() {
            "1.19" => Ok(GoFloor::Go119),
            "1.20" | "1.2" => Ok(GoFloor::Go120),
            other => Err(serde::de::Error::custom(format!(
                "goFloor must be \"1.19\" or \"1.20\", not {other:?}"
            ))),
        }
    }
}

/// `resolverConfig:` settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResolverConfig {
    /// Oldest Go version whose resolv.conf parser must accept every option kept.
    #[serde(default)]
    pub go_floor: GoFloor,
}

/// `catalog:` changes to the built-in image catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CatalogChanges {
    /// Entries checked before the built-in ones (so they can also reclassify an image).
    #[serde(default)]
    pub add: Vec<CatalogEntry>,
    /// Ids of built-in entries to drop.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A Kubernetes label selector (`matchLabels` and `matchExpressions` are ANDed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    #[serde(default)]
    pub values: Vec<String>,
}

/// A label selector operator, as in the Kubernetes API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` satisfy this selector. An empty selector matches nothing
    /// here (unlike Kubernetes, where it matches everything): a policy that targets
    /// every pod must say so with an explicit expression.
    pub fn matches<'a>(&self, labels: impl Fn(&str) -> Option<&'a str>) -> bool {
        if self.match_labels.is_empty() && self.match_expressions.is_empty() {
            return false;
        }
        let labels_match = self
            .match_labels
            .iter()
            .all(|(k, v)| labels(k) == Some(v.as_str()));
        labels_match
            && self.match_expressions.iter().all(|req| {
                let value = labels(&req.key);
                match req.operator {
                    SelectorOperator::In => {
                        value.is_some_and(|v| req.values.iter().any(|x| x == v))
                    }
                    SelectorOperator::NotIn => {
                        value.is_none_or(|v| !req.values.iter().any(|x| x == v))
                    }
                    SelectorOperator::Exists => value.is_some(),
                    SelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// A policy that failed to load or validate.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not YAML, an unknown key, or a value of the wrong type.
    #[error("{0}")]
    Syntax(String),
    /// Well-formed but meaningless. `line` is where the key's value starts, when the
    /// text it came from is known.
    #[error("{key}: {message}{}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Invalid {
        key: String,
        message: String,
        line: Option<u64>,
    },
}

impl Policy {
    /// Parses and validates policy YAML. Errors name the key and, for syntax errors,
    /// the line and column.
    pub fn from_yaml(text: &str) -> Result<Policy, PolicyError> {
        let policy: Option<Policy> =
            serde_saphyr::from_str_with_options(text, crate::yaml::options(text)).map_err(|e| {
                // The caller names the file; the snippet would call it "<input>".
                let message = e.without_snippet().to_string();
                let message = message.strip_prefix("error: ").unwrap_or(&message);
                let key = e
                    .location()
                    .and_then(|l| key_on_line(text, l.line() as usize));
                PolicyError::Syntax(match key {
                    Some(key) => format!("{key}: {message}"),
                    None => message.to_owned(),
                })
            })?;
        let policy = policy.unwrap_or_default();
        policy.validate().map_err(|e| match e {
            PolicyError::Invalid { key, message, .. } => PolicyError::Invalid {
                line: spans::line_of(text, &key),
                key,
                message,
            },
            other => other,
        })?;
        Ok(policy)
    }

    /// Checks what the types cannot: header values, selector shapes, catalog ids.
    ///
    /// (Kept next to `from_yaml`, whose errors it complements.)
    pub fn validate(&self) -> Result<(), PolicyError> {
        let invalid = |key: &str, message: String| PolicyError::Invalid {
            key: key.to_owned(),
            message,
            line: None,
        };
        if let Some(v) = self.api_version.as_deref().filter(|v| *v != API_VERSION) {
            return Err(invalid(
                "apiVersion",
                format!("must be {API_VERSION}, not {v:?}"),
            ));
        }
        if let Some(k) = self.kind.as_deref().filter(|k| *k != KIND) {
            return Err(invalid("kind", format!("must be {KIND}, not {k:?}")));
        }
        for (i, selector) in self.selectors.iter().enumerate() {
            if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
                return Err(invalid(
                    &format!("selectors[{i}]"),
                    "an empty selector would match every pod; give matchLabels or matchExpressions"
                        .into(),
                ));
            }
            for (j, req) in selector.match_expressions.iter().enumerate() {
                let needs_values =
                    matches!(req.operator, SelectorOperator::In | SelectorOperator::NotIn);
                if needs_values == req.values.is_empty() {
                    return Err(invalid(
                        &format!("selectors[{i}].matchExpressions[{j}].values"),
                        format!(
                            "operator {:?} {} values",
                            req.operator,
                            if needs_values { "needs" } else { "takes no" }
                        ),
                    ));
                }
            }
        }
        if let Some(i) = self.skip_namespaces.iter().position(String::is_empty) {
            return Err(invalid(
                &format!("skipNamespaces[{i}]"),
                "empty namespace name".into(),
            ));
        }
        let builtin = crate::catalog::builtin_entries();
        for (i, id) in self.catalog.remove.iter().enumerate() {
            if !builtin.iter().any(|e| &e.id == id) {
                let known: Vec<&str> = builtin.iter().map(|e| e.id.as_str()).collect();
                return Err(invalid(
                    &format!("catalog.remove[{i}]"),
                    format!("no built-in entry {id:?}; known ids: {}", known.join(", ")),
                ));
            }
        }
        for (i, entry) in self.catalog.add.iter().enumerate() {
            if entry.id.is_empty() || entry.images.is_empty() {
                return Err(invalid(
                    &format!("catalog.add[{i}]"),
                    "an entry needs an id and at least one image pattern".into(),
                ));
            }
            for (j, image) in entry.images.iter().enumerate() {
                crate::catalog::check_pattern(image)
                    .map_err(|why| invalid(&format!("catalog.add[{i}].images[{j}]"), why))?;
            }
            if self.catalog.add[..i].iter().any(|e| e.id == entry.id) {
                return Err(invalid(
                    &format!("catalog.add[{i}].id"),
                    format!("{:?} is listed twice", entry.id),
                ));
            }
        }
        Ok(())
    }
}

mod spans;

/// The mapping key written on a 1-based line of `text`, to name it in errors.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let content = text.lines().nth(line.checked_sub(1)?)?;
    let (key, _) = content
        .trim_start()
        .trim_start_matches("- ")
        .split_once(':')?;
    let key = key.trim().trim_matches(['{', ' ']);
    (!key.is_empty()).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_policy_means_env_strategy_on_matching_containers() {
        let p = Policy::from_yaml("").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.strategy, Strategy::Env);
        assert_eq!(p.containers, ContainerScope::Matching);
        assert!(!p.override_cgo);
    }

    #[test]
    fn a_full_policy_parses() {
        let p = Policy::from_yaml(
            r#"
apiVersion: netdns-guard.io/v1alpha1
kind: Policy
strategy: both
containers: all
overrideCgo: true
resolverConfig: {goFloor: 1.20}
catalog:
  remove: [datadog-agent]
  add:
    - {id: mine, name: Mine, risk: at-risk, reason: cgo build, images: [corp/mine]}
selectors:
  - matchLabels: {app: x}
    matchExpressions: [{key: tier, operator: In, values: [logs]}]
skipNamespaces: [kube-system]
"#,
        )
        .unwrap();
        assert_eq!(p.strategy, Strategy::Both);
        assert_eq!(p.resolver_config.go_floor, GoFloor::Go120);
        assert_eq!(p.catalog.add[0].id, "mine");
        assert_eq!(
            p.selectors[0].match_expressions[0].operator,
            SelectorOperator::In
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let err = Policy::from_yaml("strategy: env\nstrategee: env\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("strategee") && err.contains("line 2"), "{err}");
        let err = Policy::from_yaml("resolverConfig:\n  floor: 1.19\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("floor"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = Policy::from_yaml("strategy: envv\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("envv"), "{err}");
        let err = Policy::from_yaml("resolverConfig: {goFloor: 1.18}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("goFloor") && err.contains("1.18"), "{err}");
        let err = Policy::from_yaml("catalog: {remove: [nope]}\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("catalog.remove[0]") && err.contains("nope"),
            "{err}"
        );
        let err = Policy::from_yaml("selectors: [{}]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("selectors[0]"), "{err}");
        let err = Policy::from_yaml("selectors: [{matchExpressions: [{key: a, operator: In}]}]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("matchExpressions[0].values"), "{err}");
        let err = Policy::from_yaml("kind: Pod\n").unwrap_err().to_string();
        assert!(err.starts_with("kind:"), "{err}");
    }

    #[test]
    fn booleans_are_booleans_not_strings() {
        for (text, expected) in [
            ("true", true),
            ("false", false),
            ("yes", true),
            ("True", true),
        ] {
            let policy = Policy::from_yaml(&format!("overrideCgo: {text}\n"));
            assert_eq!(policy.unwrap().override_cgo, expected, "{text}");
        }
        for text in ["\"true\"", "'yes'", "\"false\"", "1", "[]"] {
            let err = Policy::from_yaml(&format!("overrideCgo: {text}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("overrideCgo:") && err.contains("boolean"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn bad_image_patterns_are_named_with_their_line() {
        let entry = "name: Mine, risk: at-risk, reason: cgo";
        let text = format!(
            "catalog:\n  add:\n    - {{id: mine, {entry},\n       images: [ok.io/agent,\n         \"\"]}}\n"
        );
        let err = Policy::from_yaml(&text).unwrap_err().to_string();
        assert_eq!(
            err,
            "catalog.add[0].images[1]: image pattern \"\" is empty or has spaces at line 5"
        );
        let text = format!(
            "catalog:\n  add:\n    - {{id: mine, {entry}, images: [ok.io/agent]}}\n    - id: other\n      name: Other\n      risk: at-risk\n      reason: cgo\n      images: ['**/*:*@*']\n"
        );
        let err = Policy::from_yaml(&text).unwrap_err().to_string();
        assert!(
            err.starts_with("catalog.add[1].images[0]: image pattern \"**/*:*@*\""),
            "{err}"
        );
        assert!(err.ends_with("at line 8"), "{err}");
        let text = format!(
            "catalog:\n  add:\n    - {{id: mine, {entry},\n       images: [\"ok.io/agent@sha256:{hex}\",\n         \"ok.io/agent@sha256:{HEX}\"]}}\n",
            hex = "ab".repeat(32),
            HEX = "AB".repeat(32),
        );
        let err = Policy::from_yaml(&text).unwrap_err().to_string();
        assert!(
            err.starts_with("catalog.add[0].images[1]: image pattern \"ok.io/agent@sha256:ABAB")
                && err.contains("malformed digest qualifier")
                && err.ends_with("at line 5"),
            "{err}"
        );
        let err = Policy::from_yaml("skipNamespaces:\n  - a\n  - ''\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "skipNamespaces[1]: empty namespace name at line 3");
    }

    #[test]
    fn an_alias_bomb_in_the_ignored_metadata_is_refused_with_its_line() {
        // Found under the fuzz harness's heap bound (fuzz/corpus/policy_file/
        // crash-alias-bomb-metadata.yaml): `metadata` is kept as a value, so nested
        // aliases there built one of tens of MiB. Now they stop at the engine's
        // replay bound.
        let bomb: String = crate::yaml::laughs(5, 9)
            .lines()
            .map(|line| format!("  {line}\n"))
            .collect();
        let text = format!("metadata:\n{bomb}");
        let err = Policy::from_yaml(&text).unwrap_err().to_string();
        assert!(err.contains("alias") && err.contains("line "), "{err}");
    }

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let labels = |k: &str| match k {
            "app" => Some("loggie"),
            "tier" => Some("logs"),
            _ => None,
        };
        let sel = |yaml: &str| -> LabelSelector { serde_saphyr::from_str(yaml).unwrap() };
        assert!(sel("matchLabels: {app: loggie}").matches(labels));
        assert!(!sel("matchLabels: {app: other}").matches(labels));
        assert!(
            sel("matchExpressions: [{key: tier, operator: In, values: [a, logs]}]").matches(labels)
        );
        assert!(
            sel("matchExpressions: [{key: tier, operator: NotIn, values: [a]}]").matches(labels)
        );
        assert!(
            sel("matchExpressions: [{key: zone, operator: NotIn, values: [a]}]").matches(labels)
        );
        assert!(sel("matchExpressions: [{key: app, operator: Exists}]").matches(labels));
        assert!(!sel("matchExpressions: [{key: app, operator: DoesNotExist}]").matches(labels));
        assert!(!LabelSelector::default().matches(labels));
    }
}
