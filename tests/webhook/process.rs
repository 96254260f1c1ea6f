//! The real binary: `serve --self-signed` answers a review as the README shows, logs
//! one JSON line per admission, and on SIGTERM finishes in-flight requests and
//! exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::*;
use crate::support::scratch::scratch_dir;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_server_answers_logs_json_and_drains_on_sigterm() {
    let dir = scratch_dir("process");
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_netdns-guard"))
        .args(["serve", "--self-signed", "--log-format", "json"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .arg("--self-signed-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let ca_path = first
        .trim()
        .strip_prefix("CA certificate: ")
        .unwrap_or_else(|| panic!("{first:?}"));
    let ca = std::fs::read_to_string(ca_path).unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();

    let mut conn = None;
    for _ in 0..50 {
        match ApiserverConn::open(addr, &ca).await {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let mut conn = conn.expect("server never came up");
    let (status, body) = conn
        .post(pod_review(
            "admission.k8s.io/v1",
            "uid-proc",
            "loggieio/loggie:v1.5.0",
        ))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(decode(&body).1.is_some());

    // A request whose body is still arriving when SIGTERM lands.
    let stream = connect(addr, client_tls(&[&ca], &[b"http/1.1"], None))
        .await
        .unwrap();
    let (mut read, mut write) = tokio::io::split(stream);
    let body = pod_review("admission.k8s.io/v1", "uid-late", "grafana/promtail");
    let head = format!(
        "POST /mutate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    write.write_all(head.as_bytes()).await.unwrap();
    write.write_all(&body[..10]).await.unwrap();
    write.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(200)).await;
    write.write_all(&body[10..]).await.unwrap();
    write.flush().await.unwrap();
    let mut answer = vec![0u8; 8192];
    let n = read.read(&mut answer).await.unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    drop((read, write, conn));

    let status = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(status.status.success(), "exit: {:?}", status.status);
    let logs = String::from_utf8_lossy(&status.stderr);
    let admission: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["message"] == "admission")
        .collect();
    assert_eq!(admission.len(), 2, "{logs}");
    let line = &admission[0];
    assert_eq!(line["uid"], "uid-proc");
    assert_eq!(line["namespace"], "logging");
    assert_eq!(line["pod"], "agent-");
    assert_eq!(line["decision"], "patched");
    assert_eq!(line["containers"], "agent");
    assert!(line["latency_us"].is_u64());
    assert!(
        !logs.contains("managedFields"),
        "the object leaked into the logs"
    );
}
