//! RFC 6902 JSON Patch operations and RFC 6901 JSON Pointers.
//!
//! The engine builds its own small operation type rather than the json-patch crate's,
//! because it writes paths relative to a pod and the adapters re-root them (a
//! Deployment's pod lives at `/spec/template`). Tests apply every patch with the
//! json-patch crate, so the two cannot drift.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

/// One JSON Patch operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PatchOp {
    /// Adds a member or array element (`/-` appends), or replaces an object member.
    Add { path: String, value: Value },
    /// Replaces an existing value.
    Replace { path: String, value: Value },
    /// Removes an existing value.
    Remove { path: String },
}

impl PatchOp {
    /// The operation's target.
    pub fn path(&self) -> &str {
        match self {
            PatchOp::Add { path, .. }
            | PatchOp::Replace { path, .. }
            | PatchOp::Remove { path } => path,
        }
    }

    fn path_mut(&mut self) -> &mut String {
        match self {
            PatchOp::Add { path, .. }
            | PatchOp::Replace { path, .. }
            | PatchOp::Remove { path } => path,
        }
    }

    /// Moves the operation under `prefix`, a JSON Pointer to where the pod sits.
    pub fn rooted_at(mut self, prefix: &str) -> Self {
        if !prefix.is_empty() {
            let path = self.path_mut();
            path.insert_str(0, prefix);
        }
        self
    }
}

/// Converts operations into the json-patch crate's type, to apply them to a
/// document. Fails only on a malformed pointer, which the engine never writes.
pub fn to_json_patch(ops: &[PatchOp]) -> Result<json_patch::Patch, String> {
    use json_patch::jsonptr::PointerBuf;
    use json_patch::{AddOperation, PatchOperation, RemoveOperation, ReplaceOperation};
    let pointer = |path: &str| PointerBuf::parse(path).map_err(|e| format!("{path:?}: {e}"));
    let convert = |op: &PatchOp| -> Result<PatchOperation, String> {
        Ok(match op {
            PatchOp::Add { path, value } => PatchOperation::Add(AddOperation {
                path: pointer(path)?,
                value: value.clone(),
            }),
            PatchOp::Replace { path, value } => PatchOperation::Replace(ReplaceOperation {
                path: pointer(path)?,
                value: value.clone(),
            }),
            PatchOp::Remove { path } => PatchOperation::Remove(RemoveOperation {
                path: pointer(path)?,
            }),
        })
    };
    Ok(json_patch::Patch(
        ops.iter().map(convert).collect::<Result<_, _>>()?,
    ))
}

/// Escapes one reference token for a JSON Pointer (RFC 6901 §3): `~` becomes `~0`
/// and `/` becomes `~1`, in that order.
pub fn escape_token(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_escape_tilde_before_slash() {
        assert_eq!(
            escape_token("netdns-guard.io/status"),
            "netdns-guard.io~1status"
        );
        assert_eq!(escape_token("a~b"), "a~0b");
        // Escaping `/` first would turn `~1` into `~01`; the order matters.
        assert_eq!(escape_token("~/"), "~0~1");
        assert_eq!(escape_token("plain"), "plain");
    }

    #[test]
    fn rooting_prefixes_the_path() {
        let op = PatchOp::Remove {
            path: "/spec/containers/0".into(),
        };
        assert_eq!(
            op.rooted_at("/spec/template").path(),
            "/spec/template/spec/containers/0"
        );
    }

    #[test]
    fn serializes_as_rfc6902() {
        let op = PatchOp::Add {
            path: "/a".into(),
            value: Value::from(1),
        };
        assert_eq!(
            serde_json::to_string(&op).unwrap(),
            r#"{"op":"add","path":"/a","value":1}"#
        );
    }
}
