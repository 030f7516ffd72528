//! Facts about the machine and the app process, read from /proc.

use std::path::Path;
use std::process::Command;

/// Resident memory of a process, in KiB: (current VmRSS, peak VmHWM).
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

fn status_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

pub fn memory(pid: Option<u32>) -> Option<Memory> {
    let text = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    Some(Memory {
        rss_kb: status_field(&text, "VmRSS:")?,
        hwm_kb: status_field(&text, "VmHWM:")?,
    })
}

pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub mem_total_mb: u64,
    pub kernel: String,
    pub date: String,
    pub commit: String,
    pub loadavg: String,
    /// Compiler and other heavy processes not started by the benchmark.
    pub busy: Vec<String>,
}

fn cmd(root: &Path, prog: &str, args: &[&str]) -> String {
    Command::new(prog)
        .args(args)
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Names of running processes that compete for the CPU and are not ours (compilers,
/// linkers, browsers, other servers).
pub fn busy_processes() -> Vec<String> {
    const HEAVY: &[&str] = &[
        "rustc",
        "cc1",
        "cc1plus",
        "ld",
        "lld",
        "rust-lld",
        "cargo",
        "wasm-opt",
        "wasm-bindgen",
        "chromium",
        "node",
    ];
    let mut found = std::collections::BTreeMap::<String, usize>::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let name = e.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) {
                let comm = comm.trim();
                if HEAVY.contains(&comm) {
                    *found.entry(comm.to_string()).or_default() += 1;
                }
            }
        }
    }
    found.into_iter().map(|(k, n)| format!("{k}×{n}")).collect()
}

/// Samples `busy_processes` every 2 s until `stop`: (samples, samples with any busy
/// process, every name seen).
pub fn busy_sampler(
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<(u32, u32, std::collections::BTreeSet<String>)> {
    tokio::spawn(async move {
        let (mut samples, mut busy) = (0, 0);
        let mut names = std::collections::BTreeSet::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let now = busy_processes();
            samples += 1;
            if !now.is_empty() {
                busy += 1;
            }
            names.extend(
                now.into_iter()
                    .map(|n| n.split('×').next().unwrap_or_default().to_string()),
            );
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        (samples, busy, names)
    })
}

pub fn machine(root: &Path) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mut commit = cmd(root, "git", &["rev-parse", "--short=12", "HEAD"]);
    if !cmd(
        root,
        "git",
        &["status", "--porcelain", "--untracked-files=no"],
    )
    .is_empty()
    {
        commit.push_str(" (with uncommitted changes)");
    }
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        mem_total_mb: status_field(&meminfo, "MemTotal:").unwrap_or(0) / 1024,
        kernel: cmd(root, "uname", &["-sr"]),
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        commit,
        loadavg: loadavg(),
        busy: busy_processes(),
    }
}
