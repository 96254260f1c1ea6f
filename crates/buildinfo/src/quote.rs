//! Go's string quoting, as the module info uses it for build settings.
//!
//! `runtime/debug.ParseBuildInfo` reads keys and values that hold spaces, tabs,
//! quotes or newlines as Go string literals (`strconv.QuotedPrefix` and
//! `strconv.Unquote`), and `BuildInfo.String` writes them back with
//! `strconv.Quote`. This is a port of exactly those three (Go's
//! `src/strconv/quote.go`), on bytes: a Go string may hold any bytes, so unquoting
//! gives bytes and the caller decides how to show them.

/// Length of the Go string literal at the start of `s` (`strconv.QuotedPrefix`),
/// or `None` when `s` does not start with a valid one.
pub(crate) fn quoted_prefix(s: &str) -> Option<usize> {
    scan(s.as_bytes(), false).map(|(_, len)| len)
}

/// The value of the Go string literal `s`, which must be all of `s`
/// (`strconv.Unquote`, for double-quoted and raw strings).
pub(crate) fn unquote(s: &str) -> Option<Vec<u8>> {
    let (value, len) = scan(s.as_bytes(), true)?;
    (len == s.len()).then_some(value)
}

/// `s` as a double-quoted Go string literal, as `strconv.Quote` writes it.
///
/// Non-ASCII characters are kept as they are unless they are control characters;
/// Go also escapes the rarer non-printable ones (format characters, unusual
/// spaces), which no real build setting holds.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `unquote(in, unescape)`: the value (when `unescape`) and the length of
/// the literal at the start of `input`.
fn scan(input: &[u8], unescape: bool) -> Option<(Vec<u8>, usize)> {
    let (&quote, rest) = input.split_first()?;
    match quote {
        b'`' => {
            let end = rest.iter().position(|&b| b == b'`')?;
            // Carriage returns inside raw strings are dropped, as in Go source.
            let value = if unescape {
                rest[..end]
                    .iter()
                    .copied()
                    .filter(|&b| b != b'\r')
                    .collect()
            } else {
                Vec::new()
            };
            Some((value, end + 2))
        }
        b'"' => {
            let mut value = Vec::new();
            let mut at = 1;
            loop {
                let b = *input.get(at)?;
                if b == b'"' {
                    return Some((value, at + 1));
                }
                if b == b'\n' {
                    return None;
                }
                let (bytes, used) = unquote_char(&input[at..])?;
                if unescape {
                    value.extend_from_slice(bytes.as_slice());
                }
                at += used;
            }
        }
        _ => None,
    }
}

/// One character of a double-quoted literal (`strconv.UnquoteChar` with quote
/// `"`): its bytes and how many input bytes it took.
fn unquote_char(s: &[u8]) -> Option<(Encoded, usize)> {
    let c = *s.first()?;
    if c != b'\\' {
        // Invalid UTF-8 decodes to U+FFFD, one byte at a time, as in Go.
        return Some(match utf8_char_len(s) {
            Some(n) => (Encoded::bytes(&s[..n]), n),
            None => (Encoded::char('\u{fffd}'), 1),
        });
    }
    let escape = *s.get(1)?;
    let simple = match escape {
        b'a' => Some(0x07),
        b'b' => Some(0x08),
        b'f' => Some(0x0c),
        b'n' => Some(b'\n'),
        b'r' => Some(b'\r'),
        b't' => Some(b'\t'),
        b'v' => Some(0x0b),
        b'\\' => Some(b'\\'),
        b'"' => Some(b'"'),
        _ => None,
    };
    if let Some(byte) = simple {
        return Some((Encoded::byte(byte), 2));
    }
    match escape {
        b'x' => {
            let v = hex_digits(s.get(2..4)?)?;
            Some((Encoded::byte(u8::try_from(v).ok()?), 4))
        }
        b'u' | b'U' => {
            let n = if escape == b'u' { 4 } else { 8 };
            let v = hex_digits(s.get(2..2 + n)?)?;
            Some((Encoded::char(char::from_u32(v)?), 2 + n))
        }
        b'0'..=b'7' => {
            let digits = s.get(1..4)?;
            let mut v: u32 = 0;
            for &d in digits {
                if !(b'0'..=b'7').contains(&d) {
                    return None;
                }
                v = v << 3 | u32::from(d - b'0');
            }
            Some((Encoded::byte(u8::try_from(v).ok()?), 4))
        }
        _ => None,
    }
}

/// The bytes one unquoted character stands for (at most four).
struct Encoded {
    buf: [u8; 4],
    len: usize,
}

impl Encoded {
    fn byte(b: u8) -> Self {
        Encoded {
            buf: [b, 0, 0, 0],
            len: 1,
        }
    }

    fn char(c: char) -> Self {
        let mut buf = [0; 4];
        let len = c.encode_utf8(&mut buf).len();
        Encoded { buf, len }
    }

    fn bytes(b: &[u8]) -> Self {
        let mut buf = [0; 4];
        buf[..b.len()].copy_from_slice(b);
        Encoded { buf, len: b.len() }
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Length of the valid UTF-8 character at the start of `s`, if there is one.
fn utf8_char_len(s: &[u8]) -> Option<usize> {
    let n = match s.first()? {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let head = s.get(..n)?;
    std::str::from_utf8(head).ok().map(|_| n)
}

fn hex_digits(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |v, &d| {
        let x = char::from(d).to_digit(16)?;
        Some(v << 4 | x)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_what_strconv_quote_writes() {
        assert_eq!(unquote(r#""-s -w""#).unwrap(), b"-s -w");
        assert_eq!(
            unquote(r#""-X \"main.v=1 2\" \\ \t\x41\101\u00e9\U0001F600""#).unwrap(),
            "-X \"main.v=1 2\" \\ \tAAé😀".as_bytes()
        );
        assert_eq!(unquote("`a b\r`").unwrap(), b"a b");
        assert_eq!(unquote(r#""\xff""#).unwrap(), [0xff]);
    }

    #[test]
    fn rejects_what_strconv_unquote_rejects() {
        for bad in [
            r#"""#,
            r#""abc"#,
            r#""a"b"#,
            "\"a\nb\"",
            r#""\q""#,
            r#""\x4""#,
            r#""\777""#,
            r#""\ud800""#,
            r#""\'""#,
            "'a'",
            "`abc",
            "",
        ] {
            assert_eq!(unquote(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn quoted_prefix_stops_at_the_closing_quote() {
        assert_eq!(quoted_prefix(r#""a\"b"=c"#), Some(6));
        assert_eq!(quoted_prefix("`k`=v"), Some(3));
        assert_eq!(quoted_prefix("k=v"), None);
    }

    #[test]
    fn quote_round_trips() {
        for s in ["-s -w", "a\"b\\c\td\n", "\x01\x7f", "é ü", ""] {
            let q = quote(s);
            assert_eq!(unquote(&q).unwrap(), s.as_bytes(), "{q}");
        }
        assert_eq!(quote("-s -w"), r#""-s -w""#);
        assert_eq!(quote("\x01"), r#""\x01""#);
    }
}
