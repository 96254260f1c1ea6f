//! The answer to an AdmissionReview, built the way kube-core's `AdmissionResponse`
//! is (`allow`, `with_patch`, `warn`, `into_review`) but borrowing the request's uid
//! and serializing straight from borrowed fields, so the answer costs one write.
//!
//! Warnings are cut to the apiserver's length limit here and nowhere else: the limit
//! belongs to the apiserver, and every other reader (dry-run, scan) gets them whole.

use std::fmt::Display;

use base64::Engine as _;
use serde::Serialize;

/// Every warning sent is shorter than this many characters: the apiserver drops
/// longer ones (ARCHITECTURE.md, "The kube-apiserver contract").
const WARNING_CHAR_LIMIT: usize = 120;

/// The answer to one review: [`allow`](Self::allow) the request, add a patch and
/// warnings, then [`into_review`](Self::into_review) writes the AdmissionReview.
pub(super) struct AdmissionResponse<'r> {
    api_version: &'static str,
    uid: &'r str,
    /// Base64 of the JSON Patch, as the apiserver wants it.
    patch: Option<String>,
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
    pub(super) fn with_patch(mut self, patch_json: &[u8]) -> Self {
        self.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch_json));
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

    /// The AdmissionReview JSON.
    pub(super) fn into_review(self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&ReviewOut {
            api_version: self.api_version,
            kind: "AdmissionReview",
            response: ResponseOut {
                uid: self.uid,
                allowed: true,
                patch_type: self.patch.is_some().then_some("JSONPatch"),
                patch: self.patch.as_deref(),
                warnings: &self.warnings,
            },
        })
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'a str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

#[cfg(test)]
mod tests {
    use super::*;

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
