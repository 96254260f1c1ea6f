//! The module info text: main module, dependencies and build settings.
//!
//! A port of Go's `runtime/debug.ParseBuildInfo` (`src/runtime/debug/mod.go`),
//! including its errors, and of `BuildInfo.String` for display. The text is
//! tab-separated lines: `path`, `mod`, `dep`, `=>` (a replacement of the line
//! before) and `build KEY=VALUE`, where keys and values that need it are Go
//! string literals. A last line without its newline is ignored, as in Go.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::quote;

/// What a Go binary says about how it was built (Go's `debug.BuildInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    /// The toolchain that built it, e.g. `go1.23.5`.
    pub go_version: String,
    /// The main package's import path (`command-line-arguments` for files
    /// given on the command line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The main module, when built in module mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<Module>,
    /// Modules the binary was built from, in the order Go recorded them.
    pub deps: Vec<Module>,
    /// Build settings, in order (Go ≥ 1.18; none before).
    pub settings: Vec<BuildSetting>,
}

/// One module: the main module, a dependency, or a replacement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    /// Module path, e.g. `helm.sh/helm/v3`.
    pub path: String,
    /// Module version, e.g. `v3.17.2` or `(devel)`.
    pub version: String,
    /// go.sum checksum, when recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<String>,
    /// The module this one was replaced by (`=>` line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace: Option<Box<Module>>,
}

/// One `build KEY=VALUE` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildSetting {
    /// e.g. `CGO_ENABLED`, `-tags`, `DefaultGODEBUG`.
    pub key: String,
    /// The value, unquoted. Bytes that are not UTF-8 (possible in a Go string)
    /// show as U+FFFD.
    pub value: String,
}

/// Why the module info could not be parsed (Go's `ParseBuildInfo` errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ModInfoError {
    /// 1-based line number, as Go counts it.
    pub line: usize,
    /// What is wrong with the line.
    pub problem: &'static str,
}

/// Which module a `=>` line may replace.
enum Last {
    None,
    Main,
    Dep(usize),
}

impl BuildInfo {
    /// Parses module info text (without its framing sentinels) for a binary
    /// built by `go_version`.
    pub(crate) fn parse(go_version: String, text: &str) -> Result<Self, ModInfoError> {
        let mut info = BuildInfo {
            go_version,
            path: None,
            main: None,
            deps: Vec::new(),
            settings: Vec::new(),
        };
        let mut last = Last::None;
        let mut rest = text;
        let mut line_no = 1;
        while let Some((line, after)) = rest.split_once('\n') {
            rest = after;
            let fail = |problem| ModInfoError {
                line: line_no,
                problem,
            };
            if let Some(path) = line.strip_prefix("path\t") {
                info.path = Some(path.to_owned());
            } else if let Some(cols) = line.strip_prefix("mod\t") {
                info.main = Some(module_line(cols).map_err(fail)?);
                last = Last::Main;
            } else if let Some(cols) = line.strip_prefix("dep\t") {
                info.deps.push(module_line(cols).map_err(fail)?);
                last = Last::Dep(info.deps.len() - 1);
            } else if let Some(cols) = line.strip_prefix("=>\t") {
                let replacement = replace_line(cols).map_err(fail)?;
                let target = match last {
                    Last::None => None,
                    Last::Main => info.main.as_mut(),
                    Last::Dep(i) => info.deps.get_mut(i),
                };
                let target =
                    target.ok_or_else(|| fail("replacement with no module on previous line"))?;
                target.replace = Some(Box::new(replacement));
                last = Last::None;
            } else if let Some(kv) = line.strip_prefix("build\t") {
                info.settings.push(build_line(kv).map_err(fail)?);
            }
            line_no += 1;
        }
        Ok(info)
    }

    /// The value of build setting `key` (the last one, should it repeat).
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .rev()
            .find(|s| s.key == key)
            .map(|s| s.value.as_str())
    }

    /// `CGO_ENABLED`: `Some(true)` for `1`, `Some(false)` for `0`, `None` when
    /// not recorded (Go < 1.18) or anything else.
    pub fn cgo_enabled(&self) -> Option<bool> {
        match self.setting("CGO_ENABLED")? {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        }
    }

    /// The `-tags` build setting, split at commas (how cmd/go records them).
    pub fn tags(&self) -> Vec<&str> {
        self.setting("-tags")
            .map(|t| t.split(',').filter(|t| !t.is_empty()).collect())
            .unwrap_or_default()
    }

    /// Whether `-tags` holds `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags().contains(&tag)
    }

    /// Whether any build setting was recorded: Go < 1.18 records none.
    pub fn has_settings(&self) -> bool {
        !self.settings.is_empty()
    }
}

/// Go's `readModuleLine`: path, version and an optional sum.
fn module_line(cols: &str) -> Result<Module, &'static str> {
    let cols: Vec<&str> = cols.split('\t').collect();
    match cols.as_slice() {
        [path, version] => Ok(module(path, version, "")),
        [path, version, sum] => Ok(module(path, version, sum)),
        _ => Err("expected 2 or 3 columns"),
    }
}

fn replace_line(cols: &str) -> Result<Module, &'static str> {
    match cols.split('\t').collect::<Vec<_>>().as_slice() {
        [path, version, sum] => Ok(module(path, version, sum)),
        _ => Err("expected 3 columns for replacement"),
    }
}

fn module(path: &str, version: &str, sum: &str) -> Module {
    Module {
        path: path.to_owned(),
        version: version.to_owned(),
        sum: (!sum.is_empty()).then(|| sum.to_owned()),
        replace: None,
    }
}

/// One `build` line: a key (maybe quoted), `=`, a value (maybe quoted), with
/// Go's rule that a key or value needing quotes must have them.
fn build_line(kv: &str) -> Result<BuildSetting, &'static str> {
    let (key, raw_value) = match kv.as_bytes().first() {
        None => return Err("build line missing '='"),
        Some(b'=') => return Err("build line with missing key"),
        Some(b'`' | b'"') => {
            let len = quote::quoted_prefix(kv).ok_or("invalid quoted key in build line")?;
            let (raw_key, after) = kv.split_at(len);
            let raw_value = match after.as_bytes().first() {
                None => return Err("build line missing '=' after quoted key"),
                Some(b'=') => &after[1..],
                Some(_) => return Err("unexpected character after quoted key"),
            };
            let key = quote::unquote(raw_key).ok_or("invalid quoted key in build line")?;
            (lossy(key), raw_value)
        }
        Some(_) => {
            let (key, value) = kv
                .split_once('=')
                .ok_or("build line missing '=' after key")?;
            if needs_quoted_key(key) {
                return Err("unquoted key must be quoted");
            }
            (key.to_owned(), value)
        }
    };
    let value = match raw_value.as_bytes().first() {
        Some(b'`' | b'"') => {
            lossy(quote::unquote(raw_value).ok_or("invalid quoted value in build line")?)
        }
        _ if needs_quoted_value(raw_value) => return Err("unquoted value must be quoted"),
        _ => raw_value.to_owned(),
    };
    Ok(BuildSetting { key, value })
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Go's `quoteKey`.
fn needs_quoted_key(key: &str) -> bool {
    key.is_empty() || key.contains(['=', ' ', '\t', '\r', '\n', '"', '`'])
}

/// Go's `quoteValue`.
fn needs_quoted_value(value: &str) -> bool {
    value.contains([' ', '\t', '\r', '\n', '"', '`'])
}

/// The module info as Go's `BuildInfo.String` writes it (what `go version -m`
/// prints, there indented by a tab), starting with the `go` line.
impl fmt::Display for BuildInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.go_version.is_empty() {
            writeln!(f, "go\t{}", self.go_version)?;
        }
        if let Some(path) = self.path.as_deref().filter(|p| !p.is_empty()) {
            writeln!(f, "path\t{path}")?;
        }
        // Go leaves out a main module whose every field is empty.
        if let Some(main) = self.main.as_ref().filter(|m| {
            !(m.path.is_empty() && m.version.is_empty() && m.sum.is_none() && m.replace.is_none())
        }) {
            write_module(f, "mod", main)?;
        }
        for dep in &self.deps {
            write_module(f, "dep", dep)?;
        }
        for s in &self.settings {
            let key = if needs_quoted_key(&s.key) {
                quote::quote(&s.key)
            } else {
                s.key.clone()
            };
            let value = if needs_quoted_value(&s.value) {
                quote::quote(&s.value)
            } else {
                s.value.clone()
            };
            writeln!(f, "build\t{key}={value}")?;
        }
        Ok(())
    }
}

fn write_module(f: &mut fmt::Formatter<'_>, word: &str, m: &Module) -> fmt::Result {
    write!(f, "{word}\t{}\t{}", m.path, m.version)?;
    match &m.replace {
        None => writeln!(f, "\t{}", m.sum.as_deref().unwrap_or("")),
        Some(r) => {
            writeln!(f)?;
            write_module(f, "=>", r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELM_LIKE: &str = "path\thelm.sh/helm/v3/cmd/helm\n\
        mod\thelm.sh/helm/v3\tv3.17.2\th1:abc=\n\
        dep\tgithub.com/a/b\tv1.0.0\th1:x=\n\
        dep\tgithub.com/c/d\tv0.1.0\n\
        =>\tgithub.com/e/d\tv0.2.0\th1:y=\n\
        build\t-buildmode=exe\n\
        build\t-ldflags=\"-s -w -X helm.sh/helm/v3/internal/version.version=v3.17.2\"\n\
        build\t\"weird key\"=`raw value`\n\
        build\tCGO_ENABLED=0\n\
        build\t-tags=netgo,osusergo\n\
        build\tvcs.modified=false\n";

    #[test]
    fn parses_every_kind_of_line() {
        let info = BuildInfo::parse("go1.23.5".into(), HELM_LIKE).unwrap();
        assert_eq!(info.path.as_deref(), Some("helm.sh/helm/v3/cmd/helm"));
        let main = info.main.as_ref().unwrap();
        assert_eq!(
            (
                main.path.as_str(),
                main.version.as_str(),
                main.sum.as_deref()
            ),
            ("helm.sh/helm/v3", "v3.17.2", Some("h1:abc="))
        );
        assert_eq!(info.deps.len(), 2);
        assert_eq!(info.deps[0].replace, None);
        let replaced = info.deps[1].replace.as_ref().unwrap();
        assert_eq!(replaced.path, "github.com/e/d");
        assert_eq!(
            info.setting("-ldflags"),
            Some("-s -w -X helm.sh/helm/v3/internal/version.version=v3.17.2")
        );
        assert_eq!(info.setting("weird key"), Some("raw value"));
        assert_eq!(info.cgo_enabled(), Some(false));
        assert_eq!(info.tags(), ["netgo", "osusergo"]);
        assert!(info.has_tag("netgo") && !info.has_tag("netcgo"));
    }

    #[test]
    fn displays_as_go_does() {
        let info = BuildInfo::parse("go1.23.5".into(), HELM_LIKE).unwrap();
        let shown = info.to_string();
        assert_eq!(
            shown,
            format!("go\tgo1.23.5\n{HELM_LIKE}").replace("`raw value`", "\"raw value\"")
        );
    }

    #[test]
    fn ignores_an_unterminated_last_line_and_unknown_lines() {
        let info = BuildInfo::parse("go1.18".into(), "path\tp\nxyz\tq\nbuild\tA=1").unwrap();
        assert_eq!(info.path.as_deref(), Some("p"));
        assert!(info.settings.is_empty());
    }

    #[test]
    fn reports_go_errors_with_their_line() {
        let cases = [
            ("mod\tonly\n", 1, "expected 2 or 3 columns"),
            (
                "path\tp\n=>\ta\tb\tc\n",
                2,
                "replacement with no module on previous line",
            ),
            (
                "mod\ta\tb\n=>\ta\tb\n",
                2,
                "expected 3 columns for replacement",
            ),
            ("build\t\n", 1, "build line missing '='"),
            ("build\t=v\n", 1, "build line with missing key"),
            ("build\tnoequals\n", 1, "build line missing '=' after key"),
            ("build\tk=a b\n", 1, "unquoted value must be quoted"),
            (
                "build\t\"k\"v\n",
                1,
                "unexpected character after quoted key",
            ),
            ("build\t\"k\n", 1, "invalid quoted key in build line"),
            ("build\tk=\"v\n", 1, "invalid quoted value in build line"),
        ];
        for (text, line, problem) in cases {
            assert_eq!(
                BuildInfo::parse("go1.23".into(), text),
                Err(ModInfoError { line, problem }),
                "{text:?}"
            );
        }
    }
}
