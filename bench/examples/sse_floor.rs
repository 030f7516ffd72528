//! The floor under the live benchmark's fan-out: what 5,000 event streams cost on this
//! machine with nothing but tokio and the sockets (no HTTP library, no app), to compare
//! with the app's CPU per event (`bench/LIMITS.md`, live section).
//!
//! `sse_floor server PORT`: accepts connections, answers each with a chunked
//! `text/event-stream` head, then writes the newest frame to every connection each time
//! one is published (every 200 ms, a stock event of the app's size, one shared buffer):
//! one task wake and one write per connection per event.
//! `sse_floor clients PORT N SECS [PATH]`: opens N connections (`GET PATH`, so it can also
//! read the app's `/api/v1/coupons/{id}/live`), reads for SECS seconds, prints the events
//! received and its own CPU time. The server's CPU is read from `/proc` by
//! the caller (see `bench/LIMITS.md` for the commands).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    match args.get(1).map(String::as_str) {
        Some("server") => rt.block_on(server(args[2].parse().expect("port"))),
        Some("clients") => rt.block_on(clients(
            args[2].parse().expect("port"),
            args[3].parse().expect("n"),
            args[4].parse().expect("secs"),
            args.get(5).cloned().unwrap_or_else(|| "/live".into()),
        )),
        _ => eprintln!("usage: sse_floor server PORT | clients PORT N SECS [PATH]"),
    }
}

fn chunk(stock: i64) -> Arc<[u8]> {
    let frame = format!(
        "event: stock\ndata: {{\"coupon_id\":\"0b5a3c1e-8a4e-4a57-9b0e-2f1d5c7e9a10\",\"stock_left\":{stock},\"held\":0,\"on_sale\":true}}\n\n"
    );
    format!("{:x}\r\n{frame}\r\n", frame.len())
        .into_bytes()
        .into()
}

async fn server(port: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    let (tx, rx) = watch::channel(chunk(1_000_000));
    tokio::spawn(async move {
        let mut stock = 1_000_000;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            stock -= 1;
            tx.send_replace(chunk(stock));
        }
    });
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        let mut rx = rx.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n";
            if socket.write_all(answer).await.is_err() {
                return;
            }
            loop {
                let frame = rx.borrow_and_update().clone();
                if socket.write_all(&frame).await.is_err() {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn clients(port: u16, n: usize, secs: u64, path: String) {
    let events = Arc::new(AtomicU64::new(0));
    let request: Arc<[u8]> = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n")
        .into_bytes()
        .into();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let events = events.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
                return;
            };
            if s.write_all(&request).await.is_err() {
                return;
            }
            let mut buf = vec![0u8; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => {
                        let got = buf[..k]
                            .windows(13)
                            .filter(|w| w == b"\"stock_left\":")
                            .count();
                        events.fetch_add(got as u64, Ordering::Relaxed);
                    }
                }
            }
        }));
        if tasks.len() % 200 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (e0, c0, t0) = (events.load(Ordering::Relaxed), cpu_self(), Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (e1, c1, t1) = (events.load(Ordering::Relaxed), cpu_self(), Instant::now());
    let got = e1 - e0;
    println!(
        "clients: {n} streams, {got} events in {:.1} s ({:.0}/s), client CPU {:.2} s = {:.2} µs per event",
        (t1 - t0).as_secs_f64(),
        got as f64 / (t1 - t0).as_secs_f64(),
        c1 - c0,
        (c1 - c0) * 1e6 / got as f64
    );
    std::process::exit(0);
}

/// This process's user + system CPU seconds.
fn cpu_self() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}
