//! The floor under the live benchmark's fan-out: what `streams` event streams at 5 events
//! a second cost on this machine with nothing but tokio and the sockets (no HTTP library,
//! no app), to set beside the app's cost per event (`bench/LIMITS.md`, live section).
//!
//! The server is this driver started again as a child process (`bench sse-floor-server
//! PORT`, so its CPU is its own): it answers each connection with a chunked
//! `text/event-stream` head, then writes the newest frame (a stock event of the app's size,
//! one shared buffer) to every connection each time one is published, every 200 ms: one
//! task wake-up and one write per connection per event, all of them together. The clients
//! are the live benchmark's own (`live::client`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::sys;

/// The driver's first argument that makes it the floor's server.
pub const SERVER: &str = "sse-floor-server";
/// How long the CPU is counted, once every stream is open.
const MEASURED: Duration = Duration::from_secs(15);

pub struct FloorRun {
    pub streams: usize,
    pub opened: usize,
    /// Events the clients received within the measured time.
    pub events: u64,
    pub secs: f64,
    /// CPU seconds within it: the floor's server, this driver (its clients), the machine.
    pub server_cpu: Option<f64>,
    pub clients_cpu: Option<f64>,
    pub machine_cpu: Option<f64>,
}

impl FloorRun {
    pub fn server_us(&self) -> Option<f64> {
        Some(self.server_cpu? * 1e6 / self.events.max(1) as f64)
    }

    pub fn clients_us(&self) -> Option<f64> {
        Some(self.clients_cpu? * 1e6 / self.events.max(1) as f64)
    }

    /// The share of the two cores the fan-out takes at its floor (server and clients).
    pub fn share(&self) -> Option<f64> {
        Some((self.server_cpu? + self.clients_cpu?) / self.secs / 2.0)
    }

    pub fn one_line(&self) -> String {
        let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.1}"));
        format!(
            "floor: {} of {} streams, {} events in {:.1} s, server {} µs and clients {} µs per event, {} of the machine",
            self.opened,
            self.streams,
            self.events,
            self.secs,
            f(self.server_us()),
            f(self.clients_us()),
            self.share()
                .map_or("–".into(), |s| format!("{:.1}%", s * 100.0))
        )
    }
}

/// `bench sse-floor-server PORT`: serves until killed, on two workers like the app.
pub fn serve(port: &str) -> ! {
    let port: u16 = port.parse().unwrap_or_else(|_| {
        eprintln!("bench {SERVER}: {port:?} is not a port");
        std::process::exit(2)
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("bench {SERVER}: no runtime: {e}");
            std::process::exit(1)
        });
    rt.block_on(server(port));
    std::process::exit(1)
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
    let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await else {
        eprintln!("bench {SERVER}: cannot listen on {port}");
        return;
    };
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
                if socket.write_all(&frame).await.is_err() || rx.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Starts the floor's server, opens `streams` clients on it, counts CPU over [`MEASURED`].
pub async fn run(streams: usize) -> Result<FloorRun, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("floor: no free port: {e}"))?
        .port();
    let exe = std::env::current_exe().map_err(|e| format!("floor: {e}"))?;
    let mut child = std::process::Command::new(exe)
        .args([SERVER, &port.to_string()])
        .spawn()
        .map_err(|e| format!("floor: cannot start its server: {e}"))?;
    let result = measure(port, child.id(), streams).await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn measure(port: u16, pid: u32, streams: usize) -> Result<FloorRun, String> {
    let addr = format!("127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !up {
        return Err("floor: its server did not start".into());
    }
    let request: Arc<[u8]> = format!("GET /live HTTP/1.1\r\nHost: {addr}\r\n\r\n")
        .into_bytes()
        .into();
    let (stop, stopped) = watch::channel(false);
    let opening = Arc::new(Semaphore::new(crate::live::OPENING_AT_ONCE));
    let opened = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..streams {
        clients.spawn(crate::live::client(
            addr.clone(),
            request.clone(),
            opening.clone(),
            opened.clone(),
            stopped.clone(),
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while opened.load(Ordering::Relaxed) < streams && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (t0, cpu0) = (Instant::now(), sys::CpuUse::now(Some(pid)));
    tokio::time::sleep(MEASURED).await;
    let (t1, cpu) = (Instant::now(), sys::CpuUse::now(Some(pid)).since(&cpu0));
    let _ = stop.send(true);
    let mut events = 0u64;
    while let Some(r) = clients.join_next().await {
        if let Ok(Ok(got)) = r {
            events += got.iter().filter(|(t, _)| *t >= t0 && *t < t1).count() as u64;
        }
    }
    Ok(FloorRun {
        streams,
        opened: opened.load(Ordering::Relaxed),
        events,
        secs: (t1 - t0).as_secs_f64(),
        server_cpu: cpu.app,
        clients_cpu: cpu.driver,
        machine_cpu: cpu.machine,
    })
}
