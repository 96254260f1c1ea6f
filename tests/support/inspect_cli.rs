//! `netdns-guard inspect` run as a real process, and its JSON read back.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netdns-guard");

/// Runs `netdns-guard inspect ARGS` with `envs` set and no standard input.
pub fn run_inspect<A: AsRef<OsStr>>(args: &[A], envs: &[(&str, &OsStr)]) -> Output {
    Command::new(BIN)
        .arg("inspect")
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

/// The JSON document `inspect -o json` printed.
pub fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "inspect -o json printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
