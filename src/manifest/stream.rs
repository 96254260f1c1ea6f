//! Reading manifest streams: multi-document YAML and JSON, one document at a time,
//! each keeping its raw text so that documents nobody changes are written back byte
//! for byte (comments, quoting and key order included).
//!
//! YAML streams are cut at document markers before parsing. That is exact, not a
//! heuristic: YAML forbids a line starting with `---` or `...` inside any scalar, so
//! such a line always ends the document.

use serde_json::Value;

/// Where a document came from, for error messages and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// A file path, or `<stdin>`.
    pub source: String,
    /// 1-based index of the document in its source.
    pub index: usize,
    /// 1-based line where the document starts.
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: document {} (line {})",
            self.source, self.index, self.line
        )
    }
}

/// One parsed document.
#[derive(Debug, Clone)]
pub struct Document<'s> {
    pub origin: Origin,
    /// The document's own YAML text (with its leading marker line, if any), when it
    /// came from YAML; `None` for JSON input, which is never echoed raw.
    pub raw: Option<&'s str>,
    /// The parsed value; `Null` for an empty document (only comments).
    pub value: Value,
}

/// A document that failed to parse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{source_name}: document {index}, line {line}, column {column}: {message}")]
pub struct ParseError {
    pub source_name: String,
    pub index: usize,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The input's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Yaml,
    Json,
}

impl Syntax {
    /// JSON when the file name says so, or when the text starts like a JSON value and
    /// parses as JSON; YAML otherwise (a YAML flow mapping also starts with `{`).
    pub fn detect(name: &str, text: &str) -> Syntax {
        if name.ends_with(".json") {
            return Syntax::Json;
        }
        let starts_like_json = text.trim_start().starts_with(['{', '[']);
        let parses_as_json = || {
            serde_json::Deserializer::from_str(text)
                .into_iter::<serde::de::IgnoredAny>()
                .all(|r| r.is_ok())
        };
        if starts_like_json && parses_as_json() {
            Syntax::Json
        } else {
            Syntax::Yaml
        }
    }
}

/// Parses every document of `text`.
pub fn parse<'s>(source: &str, text: &'s str) -> Result<Vec<Document<'s>>, ParseError> {
    parse_iter(source, text).collect()
}

/// Parses `text` one document at a time.
pub fn parse_iter<'s, 'n>(
    source: &'n str,
    text: &'s str,
) -> Box<dyn Iterator<Item = Result<Document<'s>, ParseError>> + 'n>
where
    's: 'n,
{
    match Syntax::detect(source, text) {
        Syntax::Json => match parse_json(source, text) {
            Ok(docs) => Box::new(docs.into_iter().map(Ok)),
            Err(e) => Box::new(std::iter::once(Err(e))),
        },
        Syntax::Yaml => Box::new(parse_yaml(source, text)),
    }
}

fn parse_json<'s>(source: &str, text: &'s str) -> Result<Vec<Document<'s>>, ParseError> {
    let mut documents = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut start = 0;
    while let Some(next) = stream.next() {
        let index = documents.len() + 1;
        let value = next.map_err(|e| ParseError {
            source_name: source.to_owned(),
            index,
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?;
        let offset = start + text[start..].len() - text[start..].trim_start().len();
        documents.push(Document {
            origin: Origin {
                source: source.to_owned(),
                index,
                line: line_of(text, offset),
            },
            raw: None,
            value,
        });
        start = stream.byte_offset();
    }
    Ok(documents)
}

fn parse_yaml<'s, 'n>(
    source: &'n str,
    text: &'s str,
) -> impl Iterator<Item = Result<Document<'s>, ParseError>> + 'n
where
    's: 'n,
{
    split_yaml(text)
        .into_iter()
        .enumerate()
        .map(move |(i, (line, raw))| {
            let index = i + 1;
            let value: Option<Value> = serde_saphyr::from_str_with_options(raw, options(raw))
                .map_err(|e| {
                    let location = e.location();
                    ParseError {
                        source_name: source.to_owned(),
                        index,
                        line: line + location.map_or(0, |l| l.line() as usize).saturating_sub(1),
                        column: location.map_or(0, |l| l.column() as usize),
                        message: strip_position(&e.without_snippet().to_string()),
                    }
                })?;
            Ok(Document {
                origin: Origin {
                    source: source.to_owned(),
                    index,
                    line,
                },
                raw: Some(raw),
                value: value.unwrap_or(Value::Null),
            })
        })
}

/// How one document is read: the engine's bounds for YAML from users (aliases
/// replay at most in proportion to the document's size), and kubectl's YAML 1.1.
fn options(raw: &str) -> serde_saphyr::Options {
    let mut options = crate::engine::yaml::options(raw);
    // kubectl (sigs.k8s.io/yaml) keeps the last of repeated keys.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    // kubectl reads YAML 1.1: `defaultMode: 0640` is octal 416. Without this,
    // serde-saphyr falls back to the float 640.0, which the API server rejects.
    options.legacy_octal_numbers = true;
    options
}

/// Cuts a YAML stream into documents: `(first line, text)`. A document's text starts
/// at its `---` marker line (so markers with content, like `--- |`, stay whole) and
/// runs to the next marker. Text before the first marker that is only comments and
/// blank lines belongs to the first document, as YAML parsers read it.
pub fn split_yaml(text: &str) -> Vec<(usize, &str)> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut has_content = false;
    let mut offset = 0;
    for (number, line) in lines(text).enumerate() {
        let line_number = number + 1;
        if is_document_start(line) && has_content {
            documents.push((start_line, &text[start..offset]));
            start = offset;
            start_line = line_number;
            has_content = false;
        }
        let trimmed = line.trim();
        if is_document_start(line)
            || !(trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "...")
        {
            has_content = true;
        }
        offset += line.len();
    }
    if start < text.len() || documents.is_empty() {
        documents.push((start_line, &text[start..]));
    }
    documents
}

/// The lines of `text`, each with its line break. A break is `\n`, `\r\n` or a
/// lone `\r`, as YAML counts them: a file saved with old Mac line endings is
/// still cut at its markers, and its errors name the right line.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let from = start;
        let mut end = bytes.len();
        if let Some(at) = bytes[from..].iter().position(|&b| b == b'\n' || b == b'\r') {
            let at = from + at;
            end = if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
                at + 2
            } else {
                at + 1
            };
        }
        start = end;
        // Cut only after ASCII bytes, so always on a char boundary.
        Some(&text[from..end])
    })
}

/// `---` at column 0 followed by a space, tab, newline or the end of the text.
fn is_document_start(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r']))
}

/// 1-based line number of a byte offset (line breaks as [`lines`] counts them).
fn line_of(text: &str, offset: usize) -> usize {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    lines(&text[..end])
        .filter(|l| l.ends_with(['\n', '\r']))
        .count()
        + 1
}

/// Drops the "line N column M" part parsers put in messages: the error carries the
/// position separately, relative to the whole file.
fn strip_position(message: &str) -> String {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let message = match message.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => rest,
        _ => message,
    };
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_markers_only_at_column_zero() {
        let text = "a: 1\n---\nb: |\n  ---\n  x\n--- # c\nc: 3\n";
        let docs = split_yaml(text);
        assert_eq!(
            docs,
            [
                (1, "a: 1\n"),
                (2, "---\nb: |\n  ---\n  x\n"),
                (6, "--- # c\nc: 3\n")
            ]
        );
    }

    #[test]
    fn leading_comments_and_marker_stay_with_the_first_document() {
        let text = "# licence\n\n---\na: 1\n---\nb: 2";
        assert_eq!(
            split_yaml(text),
            [(1, "# licence\n\n---\na: 1\n"), (5, "---\nb: 2")]
        );
        assert_eq!(split_yaml(""), [(1, "")]);
        assert_eq!(split_yaml("---\n"), [(1, "---\n")]);
    }

    #[test]
    fn markers_need_a_separator_after_the_dashes() {
        assert_eq!(split_yaml("a: 1\n----\nb: 2\n").len(), 1);
        assert_eq!(split_yaml("a: 1\n---\r\nb: 2\n").len(), 2);
    }

    #[test]
    fn every_yaml_line_break_cuts_lines() {
        // Old Mac line endings (a lone CR) are line breaks in YAML, too.
        assert_eq!(
            split_yaml("a: 1\r---\rb: 2\r"),
            [(1, "a: 1\r"), (2, "---\rb: 2\r")]
        );
        assert_eq!(
            split_yaml("a: 1\r\n---\r\nb: 2\r\n"),
            [(1, "a: 1\r\n"), (2, "---\r\nb: 2\r\n")]
        );
        let text = "a\rb\r\nc\nd";
        let starts: Vec<usize> = [0, 2, 5, 7].into_iter().map(|o| line_of(text, o)).collect();
        assert_eq!(starts, [1, 2, 3, 4]);
        // An offset inside a multi-byte character counts from its start.
        assert_eq!(line_of("é\nx", 1), 1);
    }

    #[test]
    fn an_old_mac_file_reads_as_its_documents_and_names_its_lines() {
        let docs = parse("mac.yaml", "a: 1\r---\rb: 2\r").unwrap();
        assert_eq!(docs.len(), 2);
        let err = parse("mac.yaml", "a: 1\r---\rb: [1\rc: 3\r").unwrap_err();
        assert_eq!((err.index, err.line), (2, 4), "{err}");
    }

    #[test]
    fn repeated_keys_keep_the_last_like_kubectl() {
        let docs = parse("x.yaml", "a: 1\na: 2\n").unwrap();
        assert_eq!(docs[0].value, serde_json::json!({ "a": 2 }));
    }

    #[test]
    fn errors_carry_the_line_in_the_whole_file() {
        let err = parse("bad.yaml", "a: 1\n---\nb: 2\n---\nc: [1, 2\nd: 3\n").unwrap_err();
        assert_eq!((err.index, err.line), (3, 6), "{err}");
        assert!(
            err.to_string().starts_with("bad.yaml: document 3, line 6"),
            "{err}"
        );
    }

    #[test]
    fn an_alias_bomb_is_refused_with_its_document_and_line() {
        // Found under the fuzz harness's heap bound (fuzz/corpus/manifest_stream/
        // crash-alias-bomb.yaml): 600 bytes of nested aliases held over 64 MiB
        // before serde-saphyr's own node budget tripped. The replays are now
        // bounded by the document's size. (Each level aliases the one before nine
        // times: 9^5 values from 300 bytes.)
        let mut text = String::from("kind: ConfigMap\n---\nl0: &l0 lol\n");
        for n in 1..=5 {
            let aliases: Vec<String> = std::iter::repeat_n(format!("*l{}", n - 1), 9).collect();
            let aliases = aliases.join(",");
            text += &format!("l{n}: &l{n} [{aliases}]\n");
        }
        let err = parse("<stdin>", &text).unwrap_err();
        assert_eq!(err.index, 2, "{err}");
        assert!(err.message.contains("alias") && err.line > 2, "{err}");
    }

    #[test]
    fn leading_zero_numbers_are_octal_like_kubectl() {
        let docs = parse("x.yaml", "mode: 0640\nzero: 0\nplain: 640\n").unwrap();
        assert_eq!(
            docs[0].value,
            serde_json::json!({ "mode": 416, "zero": 0, "plain": 640 })
        );
    }

    #[test]
    fn json_streams_and_json_errors() {
        let docs = parse("x.json", "{\"a\": 1}\n\n{\"b\": 2}\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].origin.line, 3);
        assert!(docs[0].raw.is_none());
        let err = parse("x.json", "{\"a\": 1}\n{\"b\": }\n").unwrap_err();
        assert_eq!((err.index, err.line), (2, 2), "{err}");
    }

    #[test]
    fn a_yaml_flow_mapping_is_not_mistaken_for_json() {
        // (`z`, not `y`: kubectl's YAML 1.1 reads a plain `y` as true.)
        let docs = parse("<stdin>", "{ a: 1, b: [x, z,], }\n").unwrap();
        assert_eq!(
            docs[0].value,
            serde_json::json!({ "a": 1, "b": ["x", "z"] })
        );
        assert!(docs[0].raw.is_some());
    }
}
