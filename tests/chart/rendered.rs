//! The documents one `helm template` rendered, found by kind and name and read as
//! their k8s-openapi types.

use k8s_openapi::api::admissionregistration::v1::{MutatingWebhook, MutatingWebhookConfiguration};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodSpec};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What one `helm template` run printed.
pub struct Rendered {
    /// The command, for failure messages.
    pub what: String,
    /// Every non-empty document, in order.
    pub docs: Vec<Value>,
}

impl Rendered {
    pub fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    pub fn one(&self, kind: &str) -> &Value {
        let all = self.of_kind(kind);
        assert_eq!(
            all.len(),
            1,
            "{}: expected one {kind}, got {}",
            self.what,
            all.len()
        );
        all[0]
    }

    pub fn named(&self, kind: &str, name: &str) -> &Value {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{}: no {kind} {name}", self.what))
    }

    pub fn typed<T: DeserializeOwned>(doc: &Value) -> T {
        serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc:#}"))
    }

    pub fn webhook(&self) -> MutatingWebhook {
        let config: MutatingWebhookConfiguration =
            Self::typed(self.one("MutatingWebhookConfiguration"));
        let hooks = config.webhooks.expect("webhooks");
        assert_eq!(hooks.len(), 1, "{}: one webhook expected", self.what);
        hooks.into_iter().next().expect("one webhook")
    }

    pub fn deployment(&self) -> Deployment {
        Self::typed(self.one("Deployment"))
    }

    pub fn policy_yaml(&self) -> String {
        let cm: ConfigMap = Self::typed(self.one("ConfigMap"));
        cm.data.expect("data")["policy.yaml"].clone()
    }

    pub fn match_conditions(&self) -> Option<Vec<(String, String)>> {
        self.webhook()
            .match_conditions
            .map(|list| list.into_iter().map(|c| (c.name, c.expression)).collect())
    }

    /// Every pod spec the chart runs, with where it is.
    pub fn pod_specs(&self) -> Vec<(String, PodSpec)> {
        let mut specs = Vec::new();
        for doc in &self.docs {
            let name = format!("{} {}", doc["kind"], doc["metadata"]["name"]);
            let spec = match doc["kind"].as_str() {
                Some("Deployment") => Self::typed::<Deployment>(doc).spec.template.spec,
                Some("Job") => Self::typed::<Job>(doc).spec.and_then(|s| s.template.spec),
                Some("CronJob") => Self::typed::<CronJob>(doc)
                    .spec
                    .job_template
                    .spec
                    .and_then(|s| s.template.spec),
                Some("Pod") => Self::typed::<Pod>(doc).spec,
                _ => continue,
            };
            specs.push((
                name.clone(),
                spec.unwrap_or_else(|| panic!("{name}: no pod spec")),
            ));
        }
        specs
    }
}
