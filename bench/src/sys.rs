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

/// Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU time a process has used so far (user + system), in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, own, _) = stat_ticks(&text)?;
    Some(own as f64 / clock_ticks())
}

/// CPU time the whole machine has been busy so far (every state but idle and iowait),
/// in seconds summed over the cores.
pub fn machine_busy_secs() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: f64 = v
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, x)| x)
        .sum();
    Some(busy / clock_ticks())
}

/// CPU seconds used in a span of time: by the app, by this driver, by the whole machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuUse {
    pub app: Option<f64>,
    pub driver: Option<f64>,
    pub machine: Option<f64>,
}

impl CpuUse {
    /// The counters now; `since` of a later call gives the use in between.
    pub fn now(app_pid: Option<u32>) -> CpuUse {
        CpuUse {
            app: app_pid.and_then(cpu_secs),
            driver: cpu_secs(std::process::id()),
            machine: machine_busy_secs(),
        }
    }

    pub fn since(&self, start: &CpuUse) -> CpuUse {
        let d = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        CpuUse {
            app: d(self.app, start.app),
            driver: d(self.driver, start.driver),
            machine: d(self.machine, start.machine),
        }
    }
}

/// One process's line of /proc/PID/stat, in clock ticks: (parent pid, utime + stime of
/// the process itself, cutime + cstime of its children that ended and were reaped).
fn stat_ticks(text: &str) -> Option<(u32, u64, u64)> {
    // After the command name in parentheses: state (field 3), ppid (4), utime (14),
    // stime (15), cutime (16), cstime (17).
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some((f.get(1)?.parse().ok()?, n(11)? + n(12)?, n(13)? + n(14)?))
}

/// CPU seconds used so far by a process and everything below it: every live process of
/// the tree (utime + stime, all threads), plus cutime + cstime of each of them, which
/// holds the whole CPU time of its children that have already ended (a PostgreSQL backend
/// that exited, a finished wrk). The difference of two readings is the CPU the tree used in
/// between, counting the processes that started or ended in between (a process read live
/// at the start and reaped by the end counts its full time at the end; the difference is
/// what it used in between).
pub fn tree_cpu_secs(root: u32) -> Option<f64> {
    let mut procs: Vec<(u32, u32, u64)> = Vec::new();
    let mut root_ticks = None;
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        if let Some((ppid, own, children)) = stat_ticks(&text) {
            if pid == root {
                root_ticks = Some(own + children);
            } else {
                procs.push((pid, ppid, own + children));
            }
        }
    }
    let mut total = root_ticks?;
    // Descendants, level by level.
    let mut parents = vec![root];
    while !parents.is_empty() {
        let mut next = Vec::new();
        for &(pid, ppid, ticks) in &procs {
            if parents.contains(&ppid) {
                total += ticks;
                next.push(pid);
            }
        }
        parents = next;
    }
    Some(total as f64 / clock_ticks())
}

/// The processes of the benchmark whose CPU the budget counts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pids {
    pub app: Option<u32>,
    /// PostgreSQL's postmaster (its backends and helpers are its children).
    pub postgres: Option<u32>,
    pub gateway: Option<u32>,
}

/// CPU seconds by process (trees, see `tree_cpu_secs`) and of the whole machine: a reading
/// of the counters, or (after `since`) the use between two readings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Budget {
    pub app: Option<f64>,
    pub postgres: Option<f64>,
    pub gateway: Option<f64>,
    /// The load generator: this driver and its children (wrk, pgbench).
    pub load: Option<f64>,
    pub machine: Option<f64>,
    /// Wall time between the readings (after `since`).
    pub wall: f64,
    at: Option<std::time::Instant>,
}

impl Budget {
    pub fn now(pids: &Pids) -> Budget {
        Budget {
            app: pids.app.and_then(tree_cpu_secs),
            postgres: pids.postgres.and_then(tree_cpu_secs),
            gateway: pids.gateway.and_then(tree_cpu_secs),
            load: tree_cpu_secs(std::process::id()),
            machine: machine_busy_secs(),
            wall: 0.0,
            at: Some(std::time::Instant::now()),
        }
    }

    pub fn since(&self, start: &Budget) -> Budget {
        let d = |a: Option<f64>, b: Option<f64>| Some((a? - b?).max(0.0));
        Budget {
            app: d(self.app, start.app),
            postgres: d(self.postgres, start.postgres),
            gateway: d(self.gateway, start.gateway),
            load: d(self.load, start.load),
            machine: d(self.machine, start.machine),
            wall: match (self.at, start.at) {
                (Some(a), Some(b)) => (a - b).as_secs_f64(),
                _ => 0.0,
            },
            at: None,
        }
    }

    /// The named processes together (those that were measured).
    pub fn named(&self) -> f64 {
        [self.app, self.postgres, self.gateway, self.load]
            .iter()
            .flatten()
            .sum()
    }

    /// The machine's busy time not in a named process (other processes, interrupts).
    pub fn rest(&self) -> Option<f64> {
        Some(self.machine? - self.named())
    }
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

#[cfg(test)]
mod cpu_tests {
    use super::*;

    #[test]
    fn cpu_time_of_this_process_grows_while_it_works() {
        let start = CpuUse::now(Some(std::process::id()));
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        let mut x = 0u64;
        while std::time::Instant::now() < until {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let used = CpuUse::now(Some(std::process::id())).since(&start);
        // 300 ms of spinning: at least 0.1 s counted (ticks are 10 ms), at most the wall
        // time of two cores.
        let app = used.app.expect("read /proc/PID/stat");
        assert!((0.1..2.0).contains(&app), "{app}");
        assert!(used.driver.expect("read /proc/self/stat") >= 0.1);
        assert!(used.machine.expect("read /proc/stat") >= 0.1);
        assert_eq!(CpuUse::now(None).since(&CpuUse::now(None)).app, None);
    }

    #[test]
    fn reads_own_and_reaped_children_ticks() {
        let line = "4242 (postgres: bench x) S 4200 4200 4200 0 -1 4194560 100 0 0 0 120 30 900 75 20 0 1 0 5 0 0";
        assert_eq!(stat_ticks(line), Some((4200, 150, 975)));
        assert_eq!(stat_ticks("garbage"), None);
    }

    #[test]
    fn a_process_tree_counts_children_that_ended() {
        let me = std::process::id();
        let before = tree_cpu_secs(me).expect("read /proc");
        // A child that spins for 300 ms of CPU and exits: once reaped, its time is in our
        // cutime, so the tree still counts it although it no longer exists.
        let status = std::process::Command::new("sh")
            .args(["-c", "end=$(( $(date +%s%N) + 300000000 )); while [ $(date +%s%N) -lt $end ]; do :; done"])
            .status()
            .expect("run sh");
        assert!(status.success());
        let used = tree_cpu_secs(me).expect("read /proc") - before;
        assert!(used >= 0.1, "{used}");
        let pids = Pids {
            app: Some(me),
            postgres: None,
            gateway: None,
        };
        let b = Budget::now(&pids).since(&Budget::now(&pids));
        assert_eq!(b.postgres, None);
        assert!(b.app.is_some() && b.load.is_some());
        assert!(b.rest().is_some());
    }
}
