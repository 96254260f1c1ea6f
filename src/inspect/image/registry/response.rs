//! Reading what a registry answers: its own words for an error, a blob's body
//! as it streams, and what a failed read means (a stall, a deadline, a cut).

use std::io::{self, Read};

use ureq::Body;
use ureq::http::Response;

use super::client::Timeouts;
use crate::inspect::image::digest::Verified;

/// Largest error body read from a registry (its JSON `errors`, for messages).
pub(super) const MAX_ERROR_BODY: u64 = 64 << 10;

/// The registry's own explanation, from its JSON `errors` (first one):
/// `(code, message)`.
pub(super) fn registry_message(response: Response<Body>) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(MAX_ERROR_BODY)
        .read_to_end(&mut bytes)
        .ok()?;
    let errors: Errors = serde_json::from_slice(&bytes).ok()?;
    let first = errors.errors.into_iter().next()?;
    Some((printable(&first.code, 64), printable(&first.message, 200)))
}

/// `text` cut to `limit` characters, control characters (a terminal's escape
/// sequences among them) shown as `?`: a registry's words reach terminals and
/// logs.
fn printable(text: &str, limit: usize) -> String {
    text.chars()
        .take(limit)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A blob streaming from the registry: checked by [`Verified`], its errors
/// naming the image and the blob.
pub(super) struct BlobReader<R> {
    pub(super) inner: Verified<R>,
    pub(super) what: String,
    pub(super) timeouts: Timeouts,
}

impl<R: Read> Read for BlobReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let detail = describe_read_error(&e, self.inner.bytes_read(), &self.timeouts);
            io::Error::new(e.kind(), format!("{}: {detail}", self.what))
        })
    }
}

/// Says what a failed body read means: a stall, a cut-off body, a digest
/// mismatch (from [`Verified`], which already says so), or the I/O error.
pub(super) fn describe_read_error(error: &io::Error, read: u64, timeouts: &Timeouts) -> String {
    let stall = timeouts.stall;
    // ureq reports its own timeouts as an `io::Error` of kind `Other` that
    // wraps the `ureq::Error`.
    let ureq_timeout = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .and_then(|inner| match inner {
            ureq::Error::Timeout(which) => Some(*which),
            _ => None,
        });
    match ureq_timeout {
        Some(ureq::Timeout::Global) => {
            return format!(
                "the registry took over {}s for one answer ({read} bytes came)",
                timeouts.document.as_secs_f32()
            );
        }
        Some(_) => {
            return format!(
                "the registry stalled: no data for {}s after {read} bytes",
                stall.as_secs_f32()
            );
        }
        None => {}
    }
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => format!(
            "the registry stalled: no data for {}s after {read} bytes",
            stall.as_secs_f32()
        ),
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted => {
            format!("the transfer was cut off after {read} bytes ({error})")
        }
        io::ErrorKind::InvalidData => error.to_string(),
        _ => format!("reading failed after {read} bytes: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_s_words_are_cut_and_lose_their_control_characters() {
        assert_eq!(printable("bad\u{1b}[31mred\nline", 200), "bad?[31mred?line");
        assert_eq!(printable(&"x".repeat(300), 200).len(), 200);
    }
}
