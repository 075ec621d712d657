//! Facts about the machine and the moment, for the report, and what the kernel counts for a
//! run: a `TcpExt` counter, CPU time, the load average, the rows of the bets file.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::ctx::{fail, RunError};

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
    /// UTC date and time.
    pub date: String,
    /// The commit measured.
    pub commit: String,
    /// Load averages (1, 5, 15 min) when the bench started.
    pub load_start: String,
    /// Load averages when it ended.
    pub load_end: String,
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The current UTC date and time, to the minute (from `date`, "unknown" without it).
pub fn utc_now() -> String {
    run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".into())
}

/// Runs `program`; its trimmed stdout if it succeeded.
fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Machine {
    /// The larger 1-minute load average of the start and the end, if it was above the CPU count
    /// (other work shared the CPUs).
    pub fn busy(&self) -> Option<f64> {
        let one_minute = |loads: &str| loads.split_whitespace().next()?.parse::<f64>().ok();
        let peak = [&self.load_start, &self.load_end]
            .into_iter()
            .filter_map(|l| one_minute(l))
            .fold(0.0, f64::max);
        (peak > self.nproc as f64).then_some(peak)
    }

    /// Reads /proc and git; `load_start` is [`load_average`] taken when the bench began.
    pub fn probe(root: &Path, load_start: String) -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown".into(), |(_, v)| v.trim().to_string());
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or("unknown".into(), |kb| {
                format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0)
            });
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| format!("Linux {}", s.trim()))
            .unwrap_or_else(|_| "unknown".into());
        let root = root.display().to_string();
        let git = |args: &[&str]| run("git", &[&["-C", root.as_str()], args].concat());
        let commit = match git(&["rev-parse", "--short", "HEAD"]) {
            Some(head) => {
                // The previous report itself does not make the tree "changed".
                let status = [
                    "status",
                    "--porcelain",
                    "--untracked-files=no",
                    "--",
                    ".",
                    ":!docs/benchmarks.md",
                    ":!docs/benchmarks*.png",
                ];
                let dirty = git(&status).is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{head} + uncommitted changes")
                } else {
                    head
                }
            }
            None => "unknown".into(),
        };
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            memory,
            kernel,
            date: utc_now(),
            commit,
            load_start,
            load_end: load_average(),
        }
    }
}

/// A warning when the machine was busy: the 1-minute load average, at the start or the end,
/// above its CPU count means other work shared the CPUs with the runs.
pub fn load_note(machine: &Machine) -> Option<String> {
    let peak = machine.busy()?;
    Some(format!(
        "The 1-minute load average reached {peak:.1} on {} CPUs (see Machine below). It counts \
         every runnable process and trails by about a minute, so it holds the bench's own \
         thousands of clients as well as any other job; where other jobs ran alongside, times are \
         slower and noisier than on an idle machine, and a MISS may be the load's, not the \
         code's. RSS is not affected.",
        machine.nproc
    ))
}

/// The `TcpExt` counter `name` from `/proc/net/netstat` (header line, then values line).
pub fn tcp_ext(name: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// User + system CPU time of `who` (zero if it cannot be read).
fn cpu_of(who: nix::sys::resource::UsageWho) -> Duration {
    let Ok(usage) = nix::sys::resource::getrusage(who) else {
        return Duration::ZERO;
    };
    let time = |t: nix::sys::time::TimeVal| {
        Duration::new(
            u64::try_from(t.tv_sec()).unwrap_or_default(),
            u32::try_from(t.tv_usec()).unwrap_or_default() * 1000,
        )
    };
    time(usage.user_time()) + time(usage.system_time())
}

/// User + system CPU time of the bench's reaped children (and what they reaped) so far.
pub fn children_cpu() -> Duration {
    cpu_of(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
}

/// User + system CPU time of the calling thread so far.
pub fn thread_cpu() -> Duration {
    cpu_of(nix::sys::resource::UsageWho::RUSAGE_THREAD)
}

/// The 1-minute load average.
pub fn load_1min() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Counts the rows (line feeds) of the bets file.
pub fn count_rows(path: &Path) -> Result<u64, RunError> {
    let mut file = File::open(path).map_err(fail(format!("open {}", path.display())))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut rows = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(fail(format!("read {}", path.display())))?;
        if n == 0 {
            return Ok(rows);
        }
        rows += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_date_is_utc_to_the_minute() {
        let now = super::utc_now();
        assert!(now.ends_with(" UTC") && now.len() == 20, "{now}");
    }
}
