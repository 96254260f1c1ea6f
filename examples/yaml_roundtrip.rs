//! The baseline for the dry-run stream benchmark (scripts/bench-dry-run.sh): a bare
//! parse-and-serialize of a multi-document YAML stream with the same YAML crate and
//! the same settings as `netdns-guard dry-run`, and no engine.
//!
//! ```text
//! cargo run --release --example yaml_roundtrip -- FILE [--parse-only] [--keep] > out.yaml
//! ```
//!
//! Like the dry-run it reads the whole file, cuts it into documents with the same
//! splitter (`manifest::stream::split_yaml`), parses each document into a
//! `serde_json::Value` with the same options (repeated keys: last wins), serializes
//! each back with `serde_saphyr::to_string`, renders the whole output in memory and
//! writes it at the end.
//!
//! `--parse-only` skips serialization (to split the cost); `--keep` holds every parsed
//! value until the end, as the dry-run does (to split the memory).

use std::io::Write;

use serde_json::Value;

fn main() {
    let mut path = None;
    let (mut parse_only, mut keep) = (false, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--parse-only" => parse_only = true,
            "--keep" => keep = true,
            _ if path.is_none() => path = Some(arg),
            _ => usage(),
        }
    }
    let Some(path) = path else { usage() };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });

    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
    };
    let mut out = String::with_capacity(if parse_only { 0 } else { text.len() });
    let mut kept: Vec<Value> = Vec::new();
    let mut documents = 0usize;
    for (line, raw) in netdns_guard::manifest::stream::split_yaml(&text) {
        let value: Option<Value> = serde_saphyr::from_str_with_options(raw, options.clone())
            .unwrap_or_else(|e| {
                eprintln!("{path}: document at line {line}: {e}");
                std::process::exit(2)
            });
        let Some(value) = value else { continue };
        documents += 1;
        if !parse_only {
            let yaml = serde_saphyr::to_string(&value).unwrap_or_else(|e| {
                eprintln!("{path}: document at line {line}: cannot write YAML: {e}");
                std::process::exit(2)
            });
            out.push_str("---\n");
            out.push_str(&yaml);
        }
        if keep {
            kept.push(value);
        }
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .unwrap_or_else(|e| {
            eprintln!("stdout: {e}");
            std::process::exit(2)
        });
    eprintln!(
        "{documents} documents, {} bytes in, {} bytes out",
        text.len(),
        out.len()
    );
    drop(kept);
}

fn usage() -> ! {
    eprintln!("usage: yaml_roundtrip FILE [--parse-only] [--keep]");
    std::process::exit(2)
}
