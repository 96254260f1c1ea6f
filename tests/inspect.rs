//! `netdns-guard inspect PATH...`, run as a real process on Go binaries nobody
//! here built (Helm 3 and 4: CGO_ENABLED=0; Debian's podman and runc: cgo with
//! tags, stripped) and on what is not a Go binary: exit codes, the table, the
//! JSON document and what each verdict rests on.
//!
//! The binaries the lab builds in every variant are checked against their
//! run-time behaviour by the resolver lab (`tests/resolver-lab/buildinfo.py`);
//! the reader's agreement with `go version -m` is tested in the
//! `netdns-guard-buildinfo` crate.
//!
//! Helm comes from `scripts/install-helm.sh`, podman and runc from apt; without
//! them those tests skip, unless `NETDNS_GUARD_REQUIRE_TOOLS=1` (CI) makes that a
//! failure.

#![cfg(unix)]

mod support {
    // Only Helm discovery is used here, not the confined command.
    #[allow(dead_code)]
    pub mod helm;
    pub mod inspect_cli;
    pub mod missing_tool;
}

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::helm::find_helm;
use support::inspect_cli::{json_of, run_inspect};

fn inspect(args: &[&Path], extra: &[&str]) -> Output {
    let all: Vec<&OsStr> = extra
        .iter()
        .map(OsStr::new)
        .chain(args.iter().map(|p| p.as_os_str()))
        .collect();
    run_inspect(&all, &[])
}

/// Debian's cgo-built Go programs, when installed.
fn debian_go_programs() -> Vec<PathBuf> {
    let found: Vec<PathBuf> = ["/usr/bin/podman", "/usr/sbin/runc"]
        .into_iter()
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .collect();
    if found.len() < 2 {
        let msg = "podman and runc not installed (apt-get install podman runc)";
        support::missing_tool::skip_or_fail(msg);
    }
    found
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("inspect");
    fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn helm_is_pure_go_by_cgo_enabled_0() {
    let helms: Vec<PathBuf> = [3, 4].into_iter().filter_map(find_helm).collect();
    if helms.is_empty() {
        return;
    }
    let paths: Vec<&Path> = helms.iter().map(PathBuf::as_path).collect();
    let out = inspect(&paths, &["-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    let doc = json_of(&out);
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), helms.len());
    for (file, path) in files.iter().zip(&helms) {
        assert_eq!(file["path"], path.display().to_string());
        assert_eq!(file["status"], "go");
        assert!(
            file["go_version"].as_str().unwrap().starts_with("go1."),
            "{file}"
        );
        assert_eq!(file["cgo"], false);
        assert_eq!(file["risk"], "safe");
        assert_eq!(
            file["verdict"],
            serde_json::json!({"resolver": "pure-go", "because": {"kind": "cgo-disabled"}})
        );
        assert_eq!(file["summary"], "pure-Go resolver only: CGO_ENABLED=0");
        let main = &file["build"]["main"];
        assert!(
            main["path"].as_str().unwrap().starts_with("helm.sh/helm/v"),
            "{main}"
        );
        // Helm 3.17's release build says `(devel)`, Helm 4's `v4.…`: as Go records them.
        let version = main["version"].as_str().unwrap();
        assert!(version.starts_with('v') || version == "(devel)", "{main}");
        assert_eq!(file["elf"]["linkage"]["kind"], "static");
        assert_eq!(file["encoding"]["kind"], "inline");
        assert!(file["build"]["deps"].as_array().unwrap().len() > 50);
    }
}

#[test]
fn debian_cgo_programs_are_at_risk_with_their_evidence() {
    let programs = debian_go_programs();
    if programs.is_empty() {
        return;
    }
    let paths: Vec<&Path> = programs.iter().map(PathBuf::as_path).collect();
    let out = inspect(&paths, &["-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    for file in json_of(&out)["files"].as_array().unwrap() {
        assert_eq!(file["status"], "go", "{file}");
        assert_eq!(file["cgo"], true);
        assert!(!file["tags"].as_array().unwrap().is_empty(), "{file}");
        assert_eq!(file["risk"], "at-risk");
        assert_eq!(
            file["verdict"],
            serde_json::json!({"resolver": "cgo-when-triggered", "because": {"kind": "cgo-without-netgo"}})
        );
        // Debian strips them: the resolver is found among Go's function names.
        assert_eq!(file["elf"]["symbol_table"], false);
        assert_eq!(
            file["elf"]["cgo_resolver"],
            serde_json::json!({"presence": "found", "source": "function-names"})
        );
        assert_eq!(file["elf"]["linkage"]["kind"], "dynamic");
        assert!(
            file["elf"]["linkage"]["needed"]
                .as_array()
                .unwrap()
                .contains(&Value::from("libc.so.6"))
        );
    }

    // The table says the same to a person.
    let out = inspect(&paths, &[]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    for path in &programs {
        assert!(
            table.contains(&format!("{}: at risk\n", path.display())),
            "{table}"
        );
    }
    assert!(table.contains(
        "  verdict   cgo resolver when something asks for it: CGO_ENABLED=1 and no netgo tag\n"
    ));
    assert!(table.contains("net._C2func_getaddrinfo is in Go's function names (.gopclntab)"));
    assert!(table.ends_with(&format!(
        "{} Go binaries: {} at risk, 0 safe, 0 unknown; 0 not Go; 0 unreadable\n",
        programs.len(),
        programs.len()
    )));
}

#[test]
fn what_is_not_a_go_binary_is_said_so_and_is_no_error() {
    let script = scratch("script.sh");
    fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    // This very test binary: ELF, but Rust.
    let rust = std::env::current_exe().unwrap();
    let out = inspect(&[&script, &rust], &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json_of(&out);
    assert_eq!(doc["files"][0]["status"], "not-go");
    assert_eq!(doc["files"][0]["error"], "not an ELF executable");
    assert_eq!(doc["files"][1]["status"], "not-go");
    assert!(
        doc["files"][1]["error"]
            .as_str()
            .unwrap()
            .starts_with("not a Go executable: "),
        "{doc}"
    );

    let out = inspect(&[&script], &[]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!(
            "{}: not an ELF executable\n0 Go binaries: 0 at risk, 0 safe, 0 unknown; 1 not Go; 0 unreadable\n",
            script.display()
        )
    );
}

#[test]
fn unreadable_truncated_and_oversized_files_exit_2_and_name_the_file() {
    let missing = scratch("does-not-exist");
    let dir = scratch("a-directory");
    fs::create_dir_all(&dir).unwrap();
    let out = inspect(&[&missing, &dir], &["-o", "json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let doc = json_of(&out);
    assert_eq!(doc["files"][0]["status"], "error");
    assert!(
        doc["files"][0]["error"]
            .as_str()
            .unwrap()
            .contains("No such file or directory")
    );
    assert_eq!(doc["files"][1]["error"], "not a regular file");

    let rust = std::env::current_exe().unwrap();
    let out = inspect(&[&rust], &["--max-file-bytes", "1000"]);
    assert_eq!(out.status.code(), Some(2));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.starts_with(&format!("{}: error: ", rust.display()))
            && table.contains("more than the 1000-byte limit"),
        "{table}"
    );

    // A Go binary cut off part-way, as a failed copy leaves it.
    let Some(go_binary) = debian_go_programs()
        .into_iter()
        .chain([3, 4].into_iter().filter_map(find_helm))
        .next()
    else {
        return;
    };
    let bytes = fs::read(&go_binary).unwrap();
    let cut = scratch("cut-off");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = inspect(&[&cut], &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.starts_with(&format!("{}: error: truncated or corrupt: ", cut.display())),
        "{table}"
    );
}
