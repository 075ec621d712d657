//! What the kernel and the files say about a run: a `TcpExt` counter, the CPU time of the
//! bench's children, the load average, the rows of the bets file.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::procs::{fail, RunError};

/// The `TcpExt` counter `name` from `/proc/net/netstat` (header line, then values line).
pub(crate) fn tcp_ext(name: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// User + system CPU time of the bench's reaped children so far.
pub(crate) fn children_cpu() -> Option<Duration> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).ok()?;
    let time = |t: nix::sys::time::TimeVal| {
        Duration::new(
            u64::try_from(t.tv_sec()).unwrap_or_default(),
            u32::try_from(t.tv_usec()).unwrap_or_default() * 1000,
        )
    };
    Some(time(usage.user_time()) + time(usage.system_time()))
}

/// The 1-minute load average.
pub(crate) fn load_1min() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Counts the rows (line feeds) of the bets file.
pub(crate) fn count_rows(path: &Path) -> Result<u64, RunError> {
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
