//! Reading the policy file from disk: the one place a face turns `--config FILE`
//! into an [`Engine`]. The engine parses and validates; this adds the file's name to
//! every error, so "policy file /etc/netdns-guard/policy.yaml: unknown key …" reads
//! the same from `serve`, `dry-run`, `scan` and `remediate`.

use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::policy::Policy;

/// A policy file that could not be read, parsed or compiled.
#[derive(Debug, thiserror::Error)]
#[error("policy file {}: {message}", path.display())]
pub struct PolicyFileError {
    /// The file named by `--config`.
    pub path: PathBuf,
    /// What was wrong, with the line where the parser knows it.
    pub message: String,
}

/// Loads the policy at `path` and compiles it, or the built-in defaults when `None`.
pub fn load_engine(path: Option<&Path>) -> Result<Engine, PolicyFileError> {
    let Some(path) = path else {
        // The defaults are part of the binary and always compile.
        return Engine::new(Policy::default()).map_err(|e| PolicyFileError {
            path: PathBuf::from("<built-in>"),
            message: e.to_string(),
        });
    };
    let text = std::fs::read(path).map_err(|e| PolicyFileError {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    engine_from_bytes(path, &text)
}

/// Compiles the policy `text` read from `path`: the reloader compiles exactly the
/// bytes it compared, not a second read that may differ.
pub fn engine_from_bytes(path: &Path, text: &[u8]) -> Result<Engine, PolicyFileError> {
    let error = |message: String| PolicyFileError {
        path: path.to_owned(),
        message,
    };
    let text = std::str::from_utf8(text).map_err(|e| error(format!("not UTF-8: {e}")))?;
    let policy = Policy::from_yaml(text).map_err(|e| error(e.to_string()))?;
    Engine::new(policy).map_err(|e| error(e.to_string()))
}
