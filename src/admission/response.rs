//! The answer to an AdmissionReview, built the way kube-core's `AdmissionResponse`
//! is (`allow`, `with_patch`, `warn`, `into_review`) but borrowing the request's uid
//! and written by hand into one buffer sized up front: its shape is fixed, so serde's
//! generic serializer (and a base64 string copied in) would only add work on the
//! path of every admission.
//!
//! Warnings are cut to the apiserver's length limit here and nowhere else: the limit
//! belongs to the apiserver, and every other reader (dry-run, scan) gets them whole.

use std::fmt::Display;

use base64::Engine as _;

use crate::json_text;

/// Every warning sent is shorter than this many characters: the apiserver drops
/// longer ones (ARCHITECTURE.md, "The kube-apiserver contract").
const WARNING_CHAR_LIMIT: usize = 120;

/// The answer to one review: [`allow`](Self::allow) the request, add a patch and
/// warnings, then [`into_review`](Self::into_review) writes the AdmissionReview.
pub(super) struct AdmissionResponse<'r> {
    api_version: &'static str,
    uid: &'r str,
    /// The JSON Patch's JSON text (sent base64-encoded, as the apiserver wants it).
    patch: Option<Vec<u8>>,
    /// Prefixed and cut to [`WARNING_CHAR_LIMIT`].
    warnings: Vec<String>,
}

impl<'r> AdmissionResponse<'r> {
    /// Allows the request with `uid` unchanged, answering in the review's
    /// `api_version`.
    pub(super) fn allow(api_version: &'static str, uid: &'r str) -> Self {
        AdmissionResponse {
            api_version,
            uid,
            patch: None,
            warnings: Vec::new(),
        }
    }

    /// Adds a JSON Patch, given as its JSON text.
    pub(super) fn with_patch(mut self, patch_json: Vec<u8>) -> Self {
        self.patch = Some(patch_json);
        self
    }

    /// Adds warnings for whoever created the pod, each cut to [`WARNING_CHAR_LIMIT`]
    /// and prefixed so that `kubectl` users know who said it.
    pub(super) fn warn<W: Display>(mut self, warnings: impl IntoIterator<Item = W>) -> Self {
        self.warnings.extend(
            warnings
                .into_iter()
                .map(|w| bounded(format!("netdns-guard: {w}"))),
        );
        self
    }

    /// The AdmissionReview JSON:
    /// `{"apiVersion":…,"kind":"AdmissionReview","response":{"uid":…,"allowed":true,
    /// "patchType":"JSONPatch","patch":…,"warnings":[…]}}`, the last three only when
    /// there is a patch, or warnings.
    pub(super) fn into_review(self) -> Vec<u8> {
        let base64 = base64::engine::general_purpose::STANDARD;
        let patch_len = self.patch.as_ref().map_or(0, |p| p.len().div_ceil(3) * 4);
        let warnings_len: usize = self.warnings.iter().map(|w| w.len() + 8).sum();
        let mut out = Vec::with_capacity(128 + self.uid.len() + patch_len + warnings_len);
        out.extend_from_slice(b"{\"apiVersion\":");
        json_text::push_str(&mut out, self.api_version);
        out.extend_from_slice(b",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":");
        json_text::push_str(&mut out, self.uid);
        out.extend_from_slice(b",\"allowed\":true");
        if let Some(patch) = &self.patch {
            out.extend_from_slice(b",\"patchType\":\"JSONPatch\",\"patch\":\"");
            let start = out.len();
            out.resize(start + patch_len, 0);
            // The room is exactly the encoded length, so this cannot fail; should it,
            // the string is cut and the apiserver refuses the answer (fail open).
            let written = base64.encode_slice(patch, &mut out[start..]).unwrap_or(0);
            out.truncate(start + written);
            out.push(b'"');
        }
        if !self.warnings.is_empty() {
            out.extend_from_slice(b",\"warnings\":[");
            for (i, warning) in self.warnings.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_text::push_str(&mut out, warning);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"}}");
        out
    }
}

/// Cuts `warning` to fewer than [`WARNING_CHAR_LIMIT`] characters, ending in `…`
/// when cut.
fn bounded(mut warning: String) -> String {
    let mut chars = warning.char_indices();
    // Where the 119th character starts (the cut), and whether a 120th follows.
    let cut = chars.nth(WARNING_CHAR_LIMIT - 2).map(|(at, _)| at);
    if let Some(cut) = cut
        && chars.next().is_some()
    {
        warning.truncate(cut);
        warning.push('…');
    }
    warning
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_review_is_written_as_serde_json_would_write_it() {
        let uid = "u\"1\\";
        let bare = AdmissionResponse::allow("admission.k8s.io/v1", uid).into_review();
        let expected = serde_json::json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": { "uid": uid, "allowed": true },
        });
        assert_eq!(bare, serde_json::to_vec(&expected).unwrap());
        for patch in [
            "",
            "[]",
            "[{\"op\":\"add\"}]",
            "[{\"op\":\"add\",\"path\":\"/a\"}]",
        ] {
            let full = AdmissionResponse::allow("admission.k8s.io/v1beta1", uid)
                .with_patch(patch.as_bytes().to_vec())
                .warn(["one \"quoted\"", "two\n"])
                .into_review();
            let expected = serde_json::json!({
                "apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview",
                "response": { "uid": uid, "allowed": true, "patchType": "JSONPatch",
                    "patch": base64::engine::general_purpose::STANDARD.encode(patch),
                    "warnings": ["netdns-guard: one \"quoted\"", "netdns-guard: two\n"] },
            });
            let parsed: serde_json::Value = serde_json::from_slice(&full).unwrap();
            assert_eq!(parsed, expected, "{}", String::from_utf8_lossy(&full));
        }
    }

    #[test]
    fn a_warning_is_cut_only_from_120_characters_on_a_character_boundary() {
        let ascii = "w".repeat(119);
        assert_eq!(bounded(ascii.clone()), ascii);
        let cut = bounded("w".repeat(120));
        assert_eq!(cut.chars().count(), 119);
        assert_eq!(cut, format!("{}…", "w".repeat(118)));
        let wide = "≤".repeat(200);
        assert_eq!(bounded(wide), format!("{}…", "≤".repeat(118)));
    }
}
