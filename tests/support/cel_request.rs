//! The `request` CEL expressions see for a pod CREATE, as the apiserver builds it:
//! one definition for the chart's matchConditions and the exported admission policy.

use serde_json::{Value, json};

/// An AdmissionRequest for a pod CREATE in `namespace`, as CEL's `request`.
pub fn pod_create_request(namespace: &str) -> Value {
    json!({
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": namespace,
        "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "dryRun": false,
    })
}
