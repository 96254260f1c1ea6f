//! JSON string text written by hand, for the two writers on the webhook's hot path
//! (the AdmissionReview answer and the JSON log line) that know their shape and
//! skip serde's generic serializer. Escapes exactly as serde_json does.

/// Appends `value` as a JSON string literal, quotes included.
pub(crate) fn push_str(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    push_str_contents(out, value);
    out.push(b'"');
}

/// Appends `value` escaped for the inside of a JSON string: `"` and `\` by a
/// backslash, control characters as `\n`-style or `\u00XX` escapes.
pub(crate) fn push_str_contents(out: &mut Vec<u8>, value: &str) {
    push_escaped(
        out,
        value,
        |b| b < 0x20 || b == b'"' || b == b'\\',
        |out, b| match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => push_hex_escape(out, b"\\u00", b),
        },
    );
}

/// Appends `value`, each byte `special` picks written by `escape` instead, runs of
/// plain bytes copied at once. `special` must pick ASCII bytes only, so UTF-8 stays
/// whole (the log line's text values use it with their own escapes).
pub(crate) fn push_escaped(
    out: &mut Vec<u8>,
    value: &str,
    special: impl Fn(u8) -> bool,
    escape: impl Fn(&mut Vec<u8>, u8),
) {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if special(b) {
            out.extend_from_slice(&bytes[start..i]);
            escape(out, b);
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// `prefix` and `b` as two lower-case hex digits.
pub(crate) fn push_hex_escape(out: &mut Vec<u8>, prefix: &[u8], b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(prefix);
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 0xf)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let all_ascii: String = (0u8..0x80).map(char::from).collect();
        for value in [
            "plain",
            "",
            "quote \" and \\ backslash",
            "é≤\u{2028}",
            all_ascii.as_str(),
        ] {
            let mut out = Vec::new();
            push_str(&mut out, value);
            assert_eq!(out, serde_json::to_vec(value).unwrap(), "{value:?}");
        }
    }
}
