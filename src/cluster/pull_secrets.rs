//! The registry credentials the kubelet would use for a pod's images: the
//! Secrets its `imagePullSecrets` name, then those its service account names.
//!
//! `scan --inspect-images` pulls images to read their Go build info; a private
//! registry answers only with the credentials the pod itself pulls with. The
//! result is one docker config document (`{"auths": {…}}`) per pod, merged in
//! the kubelet's order (the first Secret that has a registry wins), which the
//! registry client reads as it reads `~/.docker/config.json`.
//!
//! Reading Secrets takes `get secrets`, which many operators do not grant to a
//! scanning identity. A Secret that cannot be read (forbidden, missing, of
//! another type, malformed) is therefore a warning, not an error: the image is
//! then pulled with the local docker config or anonymously, and the report says
//! why when that fails.

use std::collections::HashMap;

use base64::Engine as _;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::Api;
use serde_json::{Map, Value};

use super::api::{ApiAction, ClusterError, Resource, Verb};
use super::inventory::get_opt;
use super::{Ctx, pod_name};

/// `kubernetes.io/dockerconfigjson`: `data[".dockerconfigjson"]` is a docker
/// config file (`{"auths": {…}}`).
const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";

/// `kubernetes.io/dockercfg`: `data[".dockercfg"]` is the legacy `~/.dockercfg`
/// (the `auths` map itself, without the wrapper).
const DOCKERCFG: &str = "kubernetes.io/dockercfg";

/// A pod's registry credentials, as one docker config document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PullCredentials {
    /// `{"auths": {registry: entry}}`; empty `auths` when the pod names none.
    pub docker_config: Value,
    /// Secrets that could not be used, and why (never their contents).
    pub warnings: Vec<String>,
}

impl PullCredentials {
    /// Whether any registry has credentials.
    pub fn is_empty(&self) -> bool {
        self.docker_config
            .get("auths")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
    }
}

/// Reads pods' pull Secrets and service accounts, each once.
pub struct PullSecrets<'c> {
    ctx: &'c Ctx,
    secrets: HashMap<(String, String), Result<Map<String, Value>, String>>,
    accounts: HashMap<(String, String), Result<Vec<String>, String>>,
}

impl<'c> PullSecrets<'c> {
    /// An empty cache over `ctx`'s client.
    pub fn new(ctx: &'c Ctx) -> Self {
        PullSecrets {
            ctx,
            secrets: HashMap::new(),
            accounts: HashMap::new(),
        }
    }

    /// The credentials the kubelet would try for `pod`'s images.
    pub async fn for_pod(&mut self, pod: &Pod) -> PullCredentials {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let mut warnings = Vec::new();
        let mut names: Vec<String> = pod
            .spec
            .iter()
            .flat_map(|spec| spec.image_pull_secrets.iter().flatten())
            .map(|reference| reference.name.clone())
            .collect();
        let account = pod
            .spec
            .as_ref()
            .and_then(|spec| spec.service_account_name.clone())
            .unwrap_or_else(|| "default".to_owned());
        match self.account_secrets(&namespace, &account).await {
            Ok(more) => names.extend(more.iter().cloned()),
            Err(why) => warnings.push(format!(
                "{}: service account {account}: {why}",
                pod_name(pod)
            )),
        }
        let mut auths = Map::new();
        let mut seen = Vec::new();
        for name in names {
            if seen.contains(&name) {
                continue;
            }
            match self.secret_auths(&namespace, &name).await {
                Ok(entries) => {
                    for (registry, entry) in entries {
                        // The first Secret naming a registry wins, as in the kubelet.
                        auths
                            .entry(registry.clone())
                            .or_insert_with(|| entry.clone());
                    }
                }
                Err(why) => warnings.push(format!("{}: pull secret {name}: {why}", pod_name(pod))),
            }
            seen.push(name);
        }
        PullCredentials {
            docker_config: Value::Object(Map::from_iter([(
                "auths".to_owned(),
                Value::Object(auths),
            )])),
            warnings,
        }
    }

    async fn account_secrets(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> &Result<Vec<String>, String> {
        let key = (namespace.to_owned(), name.to_owned());
        if !self.accounts.contains_key(&key) {
            let api: Api<ServiceAccount> = Api::namespaced(self.ctx.client.clone(), namespace);
            let action =
                ApiAction::new(Verb::Get, Resource::ServiceAccounts, Some(namespace)).named(name);
            let found = get_opt(self.ctx, &api, &action, name).await;
            self.accounts
                .insert(key.clone(), account_pull_secrets(found));
        }
        &self.accounts[&key]
    }

    async fn secret_auths(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> &Result<Map<String, Value>, String> {
        let key = (namespace.to_owned(), name.to_owned());
        if !self.secrets.contains_key(&key) {
            let api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), namespace);
            let action = ApiAction::new(Verb::Get, Resource::Secrets, Some(namespace)).named(name);
            let auths = match get_opt(self.ctx, &api, &action, name).await {
                Ok(Some(secret)) => auths_of(&secret),
                Ok(None) => Err("not found".to_owned()),
                Err(error) => Err(error.to_string()),
            };
            self.secrets.insert(key.clone(), auths);
        }
        &self.secrets[&key]
    }
}

fn account_pull_secrets(
    found: Result<Option<ServiceAccount>, ClusterError>,
) -> Result<Vec<String>, String> {
    match found {
        Ok(Some(account)) => Ok(account
            .image_pull_secrets
            .into_iter()
            .flatten()
            .map(|reference| reference.name)
            .collect()),
        // A pod whose service account is gone still runs; it simply adds none.
        Ok(None) => Ok(Vec::new()),
        Err(error) => Err(error.to_string()),
    }
}

/// The `auths` map a pull Secret holds, by its type.
fn auths_of(secret: &Secret) -> Result<Map<String, Value>, String> {
    let kind = secret.type_.as_deref().unwrap_or("Opaque");
    let (key, wrapped) = match kind {
        DOCKER_CONFIG_JSON => (".dockerconfigjson", true),
        DOCKERCFG => (".dockercfg", false),
        other => {
            return Err(format!(
                "type {other}, not {DOCKER_CONFIG_JSON} or {DOCKERCFG}"
            ));
        }
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|value| value.0.clone())
        .or_else(|| {
            // stringData is folded into data by the apiserver, but a Secret read
            // from a manifest may still carry it.
            let text = secret.string_data.as_ref()?.get(key)?;
            Some(text.clone().into_bytes())
        })
        .ok_or_else(|| format!("has no {key}"))?;
    let document: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{key} is not JSON: {e}"))?;
    let auths = if wrapped {
        document.get("auths").cloned()
    } else {
        Some(document)
    };
    match auths {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(format!("{key} has no auths map")),
    }
}

/// The `auth` field of a docker config entry for a user and password, as
/// `docker login` writes it (for tests and for Secrets built by hand).
pub fn basic_auth_field(username: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use serde_json::json;

    use super::*;

    fn secret(kind: &str, key: &str, value: &Value) -> Secret {
        Secret {
            type_: Some(kind.to_owned()),
            data: Some(BTreeMap::from([(
                key.to_owned(),
                ByteString(value.to_string().into_bytes()),
            )])),
            ..Secret::default()
        }
    }

    #[test]
    fn both_pull_secret_types_give_their_auths() {
        let entry = json!({"auth": basic_auth_field("u", "p")});
        let modern = secret(
            DOCKER_CONFIG_JSON,
            ".dockerconfigjson",
            &json!({"auths": {"registry.local:5000": entry}}),
        );
        let legacy = secret(
            DOCKERCFG,
            ".dockercfg",
            &json!({"registry.local:5000": entry}),
        );
        for secret in [modern, legacy] {
            let auths = auths_of(&secret).unwrap();
            assert_eq!(auths["registry.local:5000"], entry);
        }
    }

    #[test]
    fn unusable_secrets_say_why_without_their_contents() {
        let opaque = secret("Opaque", "password", &json!("hunter2"));
        assert!(auths_of(&opaque).unwrap_err().contains("type Opaque"));
        let missing = Secret {
            type_: Some(DOCKER_CONFIG_JSON.into()),
            ..Secret::default()
        };
        assert_eq!(auths_of(&missing).unwrap_err(), "has no .dockerconfigjson");
        let not_json = Secret {
            type_: Some(DOCKER_CONFIG_JSON.into()),
            data: Some(BTreeMap::from([(
                ".dockerconfigjson".to_owned(),
                ByteString(b"hunter2".to_vec()),
            )])),
            ..Secret::default()
        };
        let why = auths_of(&not_json).unwrap_err();
        assert!(why.starts_with(".dockerconfigjson is not JSON"), "{why}");
        assert!(!why.contains("hunter2"), "{why}");
    }

    #[test]
    fn the_basic_auth_field_is_what_docker_login_writes() {
        assert_eq!(basic_auth_field("user", "pass"), "dXNlcjpwYXNz");
    }
}
