//! Certificate rotation under load: requests keep flowing while the serving
//! certificate is replaced ten times, by file rename and by the `..data` symlink swap
//! Kubernetes Secret volumes do. No request may fail, and each new connection must
//! see the new certificate.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use netdns_guard::certs::{self, Bundle};
use netdns_guard::serve;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::harness::*;
use crate::support::scratch::scratch_dir;

const ROTATIONS: usize = 10;

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// Replaces both files, each by a write to a temporary name and a rename.
fn rotate_by_rename(dir: &Path, bundle: &Bundle) {
    certs::write_atomically(&dir.join("tls.key"), bundle.key_pem.as_bytes(), true).unwrap();
    certs::write_atomically(&dir.join("tls.crt"), bundle.cert_pem.as_bytes(), false).unwrap();
}

/// What kubelet does for a Secret volume: files are symlinks through `..data`,
/// which is atomically re-pointed at a new timestamped directory.
fn rotate_by_data_swap(dir: &Path, bundle: &Bundle, generation: usize) {
    let target = dir.join(format!("..2026_11_27_{generation:02}"));
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("tls.crt"), &bundle.cert_pem).unwrap();
    std::fs::write(target.join("tls.key"), &bundle.key_pem).unwrap();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target.file_name().unwrap(), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for file in ["tls.crt", "tls.key"] {
        let link = dir.join(file);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(file), &link).unwrap();
        }
    }
}

async fn rotation_under_load(symlink_swap: bool) {
    let bundles: Vec<Bundle> = (0..=ROTATIONS)
        .map(|_| certs::generate(&service(), 7).unwrap())
        .collect();
    let cas: Vec<&str> = bundles.iter().map(|b| b.ca_cert_pem.as_str()).collect();
    let tls = client_tls(&cas, &[b"http/1.1"], None);
    let dir = scratch_dir(if symlink_swap {
        "rotate-swap"
    } else {
        "rotate-rename"
    });
    if symlink_swap {
        rotate_by_data_swap(dir.path(), &bundles[0], 0);
    } else {
        rotate_by_rename(dir.path(), &bundles[0]);
    }
    let server = serve::start(config(dir.path(), None, None)).await.unwrap();
    let addr = server.addr;

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut clients = Vec::new();
    for client in 0..8usize {
        let (tls, stop, ok, failed) = (tls.clone(), stop.clone(), ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            let mut conn = None;
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                // Half the clients reconnect every few requests, half keep their connection.
                if conn.is_none() || (client.is_multiple_of(2) && n.is_multiple_of(4)) {
                    match ApiserverConn::open_with(addr, tls.clone()).await {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            eprintln!("connect failed: {e}");
                            continue;
                        }
                    }
                }
                let body = pod_review(
                    "admission.k8s.io/v1",
                    &format!("u-{client}-{n}"),
                    "grafana/promtail",
                );
                match conn.as_mut().unwrap().post(body).await {
                    Ok((200, _)) => ok.fetch_add(1, Ordering::SeqCst),
                    other => {
                        eprintln!("request failed: {:?}", other.map(|(s, _)| s));
                        conn = None;
                        failed.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
        }));
    }

    for (generation, bundle) in bundles.iter().enumerate().skip(1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if symlink_swap {
            rotate_by_data_swap(dir.path(), bundle, generation);
        } else {
            rotate_by_rename(dir.path(), bundle);
        }
        if !wait_until_served(addr, &tls, &der(&bundle.cert_pem)).await {
            panic!(
                "rotation {generation}: the new certificate was never served\n{}",
                server.metrics()
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    eprintln!("{ok} requests succeeded, {failed} failed during {ROTATIONS} rotations");
    assert_eq!(failed, 0);
    assert!(ok > 100, "too little load to prove anything: {ok} requests");
    let metrics = server.metrics();
    let reloads = metrics
        .lines()
        .find(|l| l.starts_with("netdns_guard_tls_reloads_total{result=\"success\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<usize>().ok())
        .unwrap_or(0);
    assert!(
        reloads >= ROTATIONS,
        "{reloads} successful reloads:\n{metrics}"
    );
    server.shutdown();
    server.wait().await;
}

/// New connections must present `expected` soon after the files change.
async fn wait_until_served(
    addr: std::net::SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    expected: &[u8],
) -> bool {
    for _ in 0..100 {
        let conn = ApiserverConn::open_with(addr, tls.clone()).await.unwrap();
        if conn.peer_cert == expected {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_rename_under_load_fails_no_request() {
    rotation_under_load(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_data_symlink_swap_under_load_fails_no_request() {
    rotation_under_load(true).await;
}

#[tokio::test]
async fn a_bad_new_certificate_keeps_the_old_one_and_is_counted() {
    let running = start("bad-cert").await;
    let ca = running.bundle.ca_cert_pem.clone();
    std::fs::write(
        running.dir.path().join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\nnot base64\n",
    )
    .unwrap();
    crate::wait_for_metric(
        &running,
        // The series exists at 0 from the start: wait for the count.
        "netdns_guard_tls_reloads_total{result=\"failure\"} 1",
    )
    .await;
    let mut conn = ApiserverConn::open(running.addr(), &ca).await.unwrap();
    assert_eq!(conn.peer_cert, der(&running.bundle.cert_pem));
    assert_eq!(
        conn.post(pod_review("admission.k8s.io/v1", "u", "nginx"))
            .await
            .unwrap()
            .0,
        200
    );
}

/// A key renamed into place a moment before its certificate can be read alone, the
/// pair then mismatched. That is not a failed reload: the next poll finds the
/// certificate too, and the chart's alert on failed reloads must stay quiet.
#[tokio::test]
async fn a_pair_caught_between_its_two_renames_is_not_a_failed_reload() {
    let interval = Duration::from_millis(300);
    let dir = scratch_dir("rotate-between");
    let first = certs::generate(&service(), 7).unwrap();
    rotate_by_rename(dir.path(), &first);
    let mut settings = config(dir.path(), None, None);
    settings.reload_interval = interval;
    let server = serve::start(settings).await.unwrap();
    let rotations = 3;
    for _ in 0..rotations {
        let next = certs::generate(&service(), 7).unwrap();
        certs::write_atomically(&dir.path().join("tls.key"), next.key_pem.as_bytes(), true)
            .unwrap();
        // Less than one interval: at most one poll sees the key without its
        // certificate (the ticker never polls twice within an interval).
        tokio::time::sleep(interval * 6 / 10).await;
        certs::write_atomically(&dir.path().join("tls.crt"), next.cert_pem.as_bytes(), false)
            .unwrap();
        tokio::time::sleep(interval * 3).await;
    }
    let metrics = server.metrics();
    for line in [
        format!("netdns_guard_tls_reloads_total{{result=\"success\"}} {rotations}"),
        "netdns_guard_tls_reloads_total{result=\"failure\"} 0".to_owned(),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in\n{metrics}"
        );
    }
    server.shutdown();
    server.wait().await;
}
