//! Bad input and hostile clients: each gets the documented answer and the server
//! keeps serving everyone else.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::post;
use netdns_guard::Engine;
use netdns_guard::certs::{self, ServiceName};
use netdns_guard::serve;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

use crate::harness::*;
use crate::support::scratch::scratch_dir;

const V1: &str = "admission.k8s.io/v1";

async fn still_serving(running: &Running) {
    let mut conn = ApiserverConn::open(running.addr(), &running.bundle.ca_cert_pem)
        .await
        .unwrap();
    let (status, body) = conn
        .post(pod_review(V1, "after", "grafana/promtail"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(decode(&body).1.is_some());
}

#[tokio::test]
async fn malformed_bodies_get_400_with_a_reason() {
    let running = start("bad-body").await;
    let mut conn = ApiserverConn::open(running.addr(), &running.bundle.ca_cert_pem)
        .await
        .unwrap();
    let full = pod_review(V1, "u", "grafana/promtail");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (full[..full.len() / 2].to_vec(), "not an AdmissionReview"),
        (br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": 7}}"#.to_vec(), "invalid type"),
        (br#"{"apiVersion": "v1", "kind": "Pod"}"#.to_vec(), "kind is \"Pod\""),
        (br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#.to_vec(), "no request"),
        (b"".to_vec(), "not an AdmissionReview"),
    ];
    for (body, reason) in cases {
        let (status, answer) = conn.post(body).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer.contains(reason),
            "{answer:?} should mention {reason:?}"
        );
    }
    still_serving(&running).await;
}

#[tokio::test]
async fn content_types_other_than_json_get_415() {
    let running = start("content-type").await;
    let mut conn = ApiserverConn::open(running.addr(), &running.bundle.ca_cert_pem)
        .await
        .unwrap();
    let body = pod_review(V1, "u", "grafana/promtail");
    for (content_type, expected) in [
        ("text/plain", 415),
        ("application/yaml", 415),
        ("application/json; charset=utf-8", 200),
        ("Application/JSON", 200),
    ] {
        let (status, _) = conn.post_as(body.clone(), content_type).await.unwrap();
        assert_eq!(status, expected, "{content_type}");
    }
}

#[tokio::test]
async fn a_50_mib_body_gets_413_and_the_server_keeps_serving() {
    let running = start("big-body").await;
    let mut conn = ApiserverConn::open(running.addr(), &running.bundle.ca_cert_pem)
        .await
        .unwrap();
    let mut huge = vec![b' '; 50 * 1024 * 1024];
    huge[0] = b'{';
    let (status, _) = conn.post(huge).await.unwrap();
    assert_eq!(status, 413);

    // Without Content-Length (chunked), the limit still holds while reading.
    let stream = connect(
        running.addr(),
        client_tls(&[&running.bundle.ca_cert_pem], &[b"http/1.1"], None),
    )
    .await
    .unwrap();
    let (mut read, mut write) = tokio::io::split(stream);
    let head = "POST /mutate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    write.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 256 * 1024];
    let writer = tokio::spawn(async move {
        for _ in 0..200 {
            let header = format!("{:x}\r\n", chunk.len());
            if write.write_all(header.as_bytes()).await.is_err()
                || write.write_all(&chunk).await.is_err()
                || write.write_all(b"\r\n").await.is_err()
            {
                return;
            }
        }
    });
    let mut response = vec![0u8; 64];
    let n = read.read(&mut response).await.unwrap();
    assert!(
        String::from_utf8_lossy(&response[..n]).starts_with("HTTP/1.1 413"),
        "{:?}",
        String::from_utf8_lossy(&response[..n])
    );
    writer.abort();
    still_serving(&running).await;
}

#[tokio::test]
async fn a_slow_loris_client_is_cut_off_while_others_are_served() {
    let running = start("slowloris").await;
    let stream = connect(
        running.addr(),
        client_tls(&[&running.bundle.ca_cert_pem], &[b"http/1.1"], None),
    )
    .await
    .unwrap();
    let (mut read, mut write) = tokio::io::split(stream);
    let started = Instant::now();
    let dribble = tokio::spawn(async move {
        // One header byte every 200 ms: never a complete head.
        for byte in
            b"POST /mutate HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter()
        {
            if write.write_all(&[*byte]).await.is_err() || write.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    still_serving(&running).await;
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(5), read.read(&mut buf)).await;
    let elapsed = started.elapsed();
    dribble.abort();
    let n = closed
        .expect("the server never cut the slow client off")
        .unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    // The header timeout is 1 s in these tests; far below the 7 s the dribble takes.
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    still_serving(&running).await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let running = start("idle").await;
    let mut stream = connect(
        running.addr(),
        client_tls(&[&running.bundle.ca_cert_pem], &[b"http/1.1"], None),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(6), stream.read(&mut buf)).await;
    assert!(
        matches!(n, Ok(Ok(0)) | Ok(Err(_))),
        "connection still open: {n:?}"
    );
}

/// A TLS 1.1 ClientHello (legacy version 0x0302, no supported_versions extension).
fn tls11_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02];
    hello.extend([0x42; 32]); // random
    hello.push(0); // no session id
    // Suites rustls implements, so version is the only reason to refuse.
    hello.extend([0x00, 0x06, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x13]);
    hello.extend([0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00];
    handshake.extend((hello.len() as u16).to_be_bytes());
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

#[tokio::test]
async fn a_tls_1_1_client_is_refused_with_a_fatal_alert() {
    let running = start("tls11").await;
    let mut tcp = TcpStream::connect(running.addr()).await.unwrap();
    tcp.write_all(&tls11_client_hello()).await.unwrap();
    let mut answer = vec![0u8; 7];
    tcp.read_exact(&mut answer).await.unwrap();
    // An alert record (not a ServerHello), fatal (2). A TLS 1.1 hello has no
    // signature_algorithms extension, so rustls stops at handshake_failure (40)
    // before it gets to protocol_version (70); either refuses the client.
    assert_eq!(answer[0], 0x15, "expected an alert, got {answer:?}");
    assert_eq!(answer[5], 2, "{answer:?}");
    assert!([40, 70].contains(&answer[6]), "{answer:?}");
    still_serving(&running).await;
}

#[tokio::test]
async fn client_ca_mode_refuses_clients_without_a_certificate() {
    let dir = scratch_dir("client-ca");
    let bundle = certs::generate(&service(), 7).unwrap();
    certs::write_bundle(&bundle, dir.path()).unwrap();
    // The apiserver's client identity, from its own CA.
    let client_name = ServiceName {
        service: "kube-apiserver".into(),
        namespace: "kube-system".into(),
    };
    let client = certs::generate(&client_name, 7).unwrap();
    let client_ca = dir.path().join("client-ca.crt");
    std::fs::write(&client_ca, &client.ca_cert_pem).unwrap();
    let server = serve::start(config(dir.path(), None, Some(client_ca)))
        .await
        .unwrap();

    let anonymous = client_tls(&[&bundle.ca_cert_pem], &[b"http/1.1"], None);
    let refused = match ApiserverConn::open_with(server.addr, anonymous).await {
        Err(_) => true,
        Ok(mut conn) => conn.post(pod_review(V1, "u", "nginx")).await.is_err(),
    };
    assert!(refused, "a client without a certificate was served");

    let identified = client_tls(
        &[&bundle.ca_cert_pem],
        &[b"http/1.1"],
        Some((&client.cert_pem, &client.key_pem)),
    );
    let mut conn = ApiserverConn::open_with(server.addr, identified)
        .await
        .unwrap();
    assert_eq!(
        conn.post(pod_review(V1, "u", "grafana/promtail"))
            .await
            .unwrap()
            .0,
        200
    );
}

async fn boom() -> &'static str {
    panic!("handler bug")
}

#[tokio::test]
async fn a_panic_in_a_handler_answers_500_and_the_next_request_is_served() {
    let state = serve::test_state(Engine::new(Default::default()).unwrap(), test_limits());
    let router = axum::Router::new()
        .route("/boom", post(boom))
        .route("/fine", post(|| async { "fine" }));
    let app = serve::with_layers(router, state);
    let request = |path: &str| axum::http::Request::post(path).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request("/boom")).await.unwrap();
    assert_eq!(response.status(), 500);
    let response = app.oneshot(request("/fine")).await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_connections() {
    let running = start("shutdown").await;
    let tls = client_tls(&[&running.bundle.ca_cert_pem], &[b"http/1.1"], None);
    let body = pod_review(V1, "in-flight", "grafana/promtail");
    // Requests whose body is still arriving when shutdown starts.
    let mut in_flight = Vec::new();
    for _ in 0..4 {
        let stream = connect(running.addr(), tls.clone()).await.unwrap();
        let (mut read, mut write) = tokio::io::split(stream);
        let head = format!(
            "POST /mutate?timeout=10s HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        write.write_all(head.as_bytes()).await.unwrap();
        write.write_all(&body[..100]).await.unwrap();
        write.flush().await.unwrap();
        let rest = body[100..].to_vec();
        in_flight.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            write.write_all(&rest).await.unwrap();
            write.flush().await.unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&answer).contains("\"allowed\":true") {
                let n = read.read(&mut buf).await.unwrap();
                assert!(
                    n > 0,
                    "closed before answering: {}",
                    String::from_utf8_lossy(&answer)
                );
                answer.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&answer).into_owned()
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let metrics = running.server.metrics_addr.unwrap();
    let addr = running.addr();
    running.server.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
    assert_eq!(
        get_plain(metrics, "/readyz").await.0,
        503,
        "ready while draining"
    );
    for request in in_flight {
        let answer = request.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    tokio::time::timeout(Duration::from_secs(5), running.server.wait())
        .await
        .expect("server did not stop");
}

#[tokio::test]
async fn a_body_over_the_limit_on_http2_gets_413() {
    let running = start("h2-too-large").await;
    // test_limits() allows 1 MiB: the client declares 2 MiB, as hyper's h2 client does.
    let body = vec![b' '; 2 * 1024 * 1024];
    let (status, answer) = post_h2(running.addr(), &running.bundle.ca_cert_pem, body).await;
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&answer));
    assert!(String::from_utf8_lossy(&answer).contains("over 1048576 bytes"));
    still_serving(&running).await;
}

/// While readiness is false before the listener closes (`--shutdown-delay-seconds`),
/// answers tell HTTP/1.1 clients to close: each moves to a new connection (another
/// replica) after its next answer, instead of racing the close of an idle
/// keep-alive connection when the listener stops, which loses the request.
#[tokio::test]
async fn answers_while_draining_close_the_connection() {
    let running = start("drain-close").await;
    let mut conn = ApiserverConn::open(running.addr(), &running.bundle.ca_cert_pem)
        .await
        .unwrap();
    let (status, _, close) = conn
        .post_with_connection_header(pod_review(V1, "before", "grafana/promtail"))
        .await;
    assert_eq!((status, close), (200, false), "ready: keep-alive");
    running.server.set_unready();
    let (status, answer, close) = conn
        .post_with_connection_header(pod_review(V1, "draining", "grafana/promtail"))
        .await;
    assert_eq!(status, 200);
    assert!(decode(&answer).1.is_some(), "still answered in full");
    assert!(close, "no `connection: close` while draining");
    running.server.shutdown();
    running.server.wait().await;
}
