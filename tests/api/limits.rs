//! Slow and oversized clients: a huge (over 128 KiB, actix-http's bound) or endless request
//! head, a trickling body. Each gets a 4xx
//! (or a closed connection) in bounded time, never a 5xx and never a connection held for ever.
use crate::helpers::{Backend, spawn_app_with};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `head` and reads until the server closes or `wait` passes; returns what came back
/// and how long it took.
async fn exchange(address: &str, head: &[u8], wait: Duration) -> (String, Duration) {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    let started = Instant::now();
    let _ = stream.write_all(head).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

fn status_of(response: &str) -> Option<u16> {
    response.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_are_refused_with_a_4xx() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await.unwrap();
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let (res, _) = exchange(&app.address, big.as_bytes(), Duration::from_secs(10)).await;
    let status = status_of(&res);
    assert!(
        status.is_some_and(|s| (400..500).contains(&s)),
        "{res:.200}"
    );

    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    // Many small headers adding up to more than the head may hold.
    for i in 0..10_000 {
        many.push_str(&format!("X-Header-{i}: some value\r\n"));
    }
    many.push_str("\r\n");
    let (res, _) = exchange(&app.address, many.as_bytes(), Duration::from_secs(10)).await;
    let status = status_of(&res);
    assert!(
        status.is_some_and(|s| (400..500).contains(&s)),
        "{res:.200}"
    );

    // The server is unharmed.
    let res = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_head_or_a_trickling_body_is_cut_off_with_408() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.request_timeout = Duration::from_secs(2);
    })
    .await
    .unwrap();

    // A head that never ends (slowloris).
    let (res, took) = exchange(
        &app.address,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n",
        Duration::from_secs(15),
    )
    .await;
    assert!(
        took < Duration::from_secs(10),
        "connection held for {took:?}"
    );
    assert!(res.is_empty() || status_of(&res) == Some(408), "{res:.200}");

    // A body announced at 1,000 bytes that stops after 10.
    let (res, took) = exchange(
        &app.address,
        b"POST /s/abc HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n_nonce=abc",
        Duration::from_secs(15),
    )
    .await;
    assert!(
        took < Duration::from_secs(10),
        "connection held for {took:?}"
    );
    assert_eq!(status_of(&res), Some(408), "{res:.300}");
    assert!(res.contains("请求超时"), "{res:.300}");
}

/// Writes `head` and reads the answer's status line (the connection may stay open); how long it
/// took to come.
async fn first_line(address: &str, head: &[u8]) -> (String, Duration) {
    let mut stream = TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    let started = Instant::now();
    let _ = stream.write_all(head).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !out.windows(2).any(|w| w == b"\r\n") {
        match tokio::time::timeout(Duration::from_secs(15), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => out.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_longer_than_any_of_renkes_gets_a_prompt_4xx() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await.unwrap();
    for (n, expected) in [(9_000, Some(414)), (40_000, Some(414)), (70_000, None)] {
        for path in ["/healthz?", "/s/", "/admin/surveys/"] {
            let head = format!("GET {path}{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(n));
            let (res, took) = first_line(&app.address, head.as_bytes()).await;
            let status = status_of(&res);
            match expected {
                Some(code) => assert_eq!(status, Some(code), "{n} bytes at {path}: {res:.200}"),
                // Past what actix-http parses at all: its own 400.
                None => assert!(
                    status.is_some_and(|s| (400..500).contains(&s)),
                    "{n} bytes at {path}: {res:.200}"
                ),
            }
            assert!(
                took < Duration::from_secs(5),
                "{n} bytes at {path}: answered after {took:?}"
            );
        }
    }
    // An address of ordinary length is served as before.
    let res = reqwest::get(app.url(&format!("/healthz?{}", "a".repeat(4_000))))
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
}
