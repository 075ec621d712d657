//! Facts about the machine and the moment, for the report.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// Facts about the machine.
pub(crate) struct Machine {
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
pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The current UTC date and time, to the minute.
pub(crate) fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Runs git in `root`; its trimmed stdout.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
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
    pub(crate) fn busy(&self) -> Option<f64> {
        let one_minute = |loads: &str| loads.split_whitespace().next()?.parse::<f64>().ok();
        let peak = [&self.load_start, &self.load_end]
            .into_iter()
            .filter_map(|l| one_minute(l))
            .fold(0.0, f64::max);
        (peak > self.nproc as f64).then_some(peak)
    }

    /// The machine in one line: CPUs, model, memory, kernel.
    pub(crate) fn line(&self) -> String {
        format!(
            "{} CPUs ({}), {} of memory, {}",
            self.nproc, self.cpu, self.memory, self.kernel
        )
    }

    /// Reads /proc and git; `load_start` is [`load_average`] taken when the bench began.
    pub(crate) fn probe(root: &Path, load_start: String) -> Machine {
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
        let commit = match git(root, &["rev-parse", "--short", "HEAD"]) {
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
                let dirty = git(root, &status).is_some_and(|s| !s.is_empty());
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
pub(crate) fn load_note(machine: &Machine) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        let now = utc_now();
        assert!(now.ends_with(" UTC") && now.len() == 20, "{now}");
    }
}
