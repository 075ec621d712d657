//! Facts about the machine and the moment, for the report, and what the kernel counts for a
//! run: a `TcpExt` counter, CPU time, the load average, the rows of the bets file.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::resource::getrusage;
pub use nix::sys::resource::UsageWho::{self, RUSAGE_CHILDREN, RUSAGE_THREAD};

use crate::harness::{fail, Result};

/// Facts about the machine.
pub struct Machine {
    /// CPUs available.
    pub nproc: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// MemTotal.
    pub memory: String,
    /// Kernel release.
    pub kernel: String,
    /// UTC date and time, to the minute.
    pub date: String,
    /// The commit measured.
    pub commit: String,
    /// Load averages (1, 5, 15 min) at the start.
    pub load_start: String,
    /// Load averages at the end.
    pub load_end: String,
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_else(|_| "unknown".into());
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The 1-minute load average.
pub fn load_1min() -> Option<f64> {
    load_average().split_whitespace().next()?.parse().ok()
}

/// Runs `program`; its trimmed stdout if it succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    out.status.success().then_some(text)
}

/// The value of `key` in a `key: value` file of /proc (`cpuinfo`, `meminfo`, a process's
/// `status`), trimmed.
pub fn proc_field(path: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix(':'));
    Some(value?.trim().to_string())
}

impl Machine {
    /// Reads /proc and git; `load_start` is [`load_average`] taken at the start.
    pub fn probe(root: &Path, load_start: String) -> Machine {
        let unknown = || "unknown".to_string();
        let kb = proc_field("/proc/meminfo", "MemTotal").and_then(|m| {
            let kb: f64 = m.split_whitespace().next()?.parse().ok()?;
            Some(format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        });
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease");
        let root = root.display().to_string();
        let git = |args: &[&str]| output("git", &[&["-C", root.as_str()], args].concat());
        // The previous report itself does not make the tree "changed".
        let status = ["status", "--porcelain", "--untracked-files=no", "--", "."];
        let report = [":!docs/benchmarks.md", ":!docs/benchmarks*.png"];
        let status = [&status[..], &report].concat();
        let commit = git(&["rev-parse", "--short", "HEAD"]).map(|head| {
            match git(&status).is_some_and(|s| !s.is_empty()) {
                true => format!("{head} + uncommitted changes"),
                false => head,
            }
        });
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: proc_field("/proc/cpuinfo", "model name").unwrap_or_else(unknown),
            memory: kb.unwrap_or_else(unknown),
            kernel: kernel.map_or_else(|_| unknown(), |k| format!("Linux {}", k.trim())),
            date: output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(unknown),
            commit: commit.unwrap_or_else(unknown),
            load_start,
            load_end: load_average(),
        }
    }

    /// The larger 1-minute load average of the start and the end, if above the CPU count (other
    /// work shared the CPUs).
    pub fn busy(&self) -> Option<f64> {
        let one_minute = |loads: &String| loads.split_whitespace().next()?.parse::<f64>().ok();
        let loads = [&self.load_start, &self.load_end];
        let peak = loads.into_iter().filter_map(one_minute).fold(0.0, f64::max);
        (peak > self.nproc as f64).then_some(peak)
    }
}

/// The `TcpExt` counter `name` from `/proc/net/netstat` (a line of names, then one of values).
pub fn tcp_ext(name: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// User and system CPU time so far of the calling thread, or of the bench's reaped children
/// (and what they reaped); zero if it cannot be read.
pub fn cpu(who: UsageWho) -> (Duration, Duration) {
    let Ok(usage) = getrusage(who) else {
        return Default::default();
    };
    let time = |t: nix::sys::time::TimeVal| {
        let secs = u64::try_from(t.tv_sec()).unwrap_or_default();
        Duration::new(secs, u32::try_from(t.tv_usec()).unwrap_or_default() * 1000)
    };
    (time(usage.user_time()), time(usage.system_time()))
}

/// User + system CPU time of `who`, as [`cpu`].
pub fn cpu_total(who: UsageWho) -> Duration {
    let (user, system) = cpu(who);
    user + system
}

/// Counts the rows (line feeds) of the bets file.
pub fn count_rows(path: &Path) -> Result<u64> {
    let err = || fail(format!("read {}", path.display()));
    let mut file = fs::File::open(path).map_err(err())?;
    let (mut buf, mut rows) = (vec![0u8; 64 * 1024], 0u64);
    loop {
        match file.read(&mut buf).map_err(err())? {
            0 => return Ok(rows),
            n => rows += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64,
        }
    }
}
