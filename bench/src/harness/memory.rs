//! Peak memory measured from outside: a sampler thread reads the `VmHWM` (peak resident set) of
//! every process of a run from `/proc/<pid>/status`; the product logs nothing for it.
//!
//! The processes are found through `/proc/<pid>/task/<tid>/children`: the children of the bench
//! thread that spawns them are the server and the clients, the server's are its sessions and its
//! coordinator. `VmHWM` starts afresh at `execve` and, at `fork`, at the child's resident set, so
//! unlike `ru_maxrss` it does not carry the launcher's peak; as a high-water mark, only growth in
//! a process's last interval before it exits can be missed (a zombie has no `VmHWM`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::ctx::{fail, Result};

/// The shortest pause between two sweeps over the processes.
pub const MIN_INTERVAL: Duration = Duration::from_millis(5);
/// A sweep takes at most 1/n of the sampler's time, so that reading /proc does not compete with
/// the runs it measures.
const DUTY_DIVISOR: u32 = 10;

/// The peaks (KiB) seen during one run.
#[derive(Debug, Default)]
pub struct Peaks {
    /// The parent server.
    pub server: Option<u64>,
    /// The server's children (sessions and the coordinator), by pid.
    pub server_children: HashMap<i32, u64>,
    /// The bench's other children (the clients), by pid.
    pub clients: HashMap<i32, u64>,
    /// Sweeps done.
    pub sweeps: u64,
    /// CPU time the sampler thread used.
    pub busy: Duration,
}

/// A running sampler (its stop flag and thread); [`Sampler::finish`] stops it and hands back
/// what it saw.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Peaks>>,
}

impl Sampler {
    /// Samples the server `server` (spawned by the calling thread), everything it forks, and
    /// every other child the calling thread spawns: the clients.
    pub fn start(server: i32) -> Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let bench = (std::process::id() as i32, nix::unistd::gettid().as_raw());
        let comm = std::fs::read("/proc/self/comm").unwrap_or_default();
        let handle = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || sample(bench, &comm, server, &flag))
            .map_err(fail("start the memory sampler thread"))?;
        let handle = Some(handle);
        Ok(Sampler { stop, handle })
    }

    /// Stops the thread (after one last sweep) and returns the peaks.
    pub fn finish(mut self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        let handle = self.handle.take();
        handle.and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// The sampler thread: sweeps until told to stop, then one last time.
fn sample(bench: (i32, i32), comm: &[u8], server: i32, stop: &AtomicBool) -> Peaks {
    let mut peaks = Peaks::default();
    loop {
        let last = stop.load(Ordering::Relaxed);
        let began = Instant::now();
        sweep(bench, comm, server, &mut peaks);
        if last {
            use nix::time::{clock_gettime, ClockId};
            let cpu = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID);
            peaks.busy = cpu.map_or(Duration::ZERO, Duration::from);
            return peaks;
        }
        std::thread::sleep((began.elapsed() * (DUTY_DIVISOR - 1)).max(MIN_INTERVAL));
    }
}

/// One look at every process of the run.
fn sweep(bench: (i32, i32), comm: &[u8], server: i32, peaks: &mut Peaks) {
    peaks.sweeps += 1;
    if let Some(kb) = peak_kb(server) {
        peaks.server = Some(peaks.server.map_or(kb, |p| p.max(kb)));
    }
    let keep = |map: &mut HashMap<i32, u64>, pid, kb: u64| {
        let slot = map.entry(pid).or_insert(0);
        *slot = (*slot).max(kb);
    };
    for pid in children((server, server)) {
        if let Some(kb) = peak_kb(pid) {
            keep(&mut peaks.server_children, pid, kb);
        }
    }
    for pid in children(bench).into_iter().filter(|&p| p != server) {
        // Between its fork and its exec a client is a copy of the bench, whose peak it shows:
        // only a process that no longer bears the bench's name counts.
        let execed = std::fs::read(format!("/proc/{pid}/comm")).is_ok_and(|c| c != comm);
        if let Some(kb) = peak_kb(pid).filter(|_| execed) {
            keep(&mut peaks.clients, pid, kb);
        }
    }
}

/// The children of one thread (pid, tid) of a process (empty if it is gone).
pub fn children((pid, tid): (i32, i32)) -> Vec<i32> {
    let list = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/children"));
    let list = list.unwrap_or_default();
    list.split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `VmHWM` of `pid` in KiB; `None` if it is gone or a zombie.
fn peak_kb(pid: i32) -> Option<u64> {
    proc_kb(pid, "status", "VmHWM")
}

/// A `kB` field of `/proc/<pid>/<file>` (`status`, `smaps_rollup`).
pub fn proc_kb(pid: i32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn samples_a_spawned_child() {
        let bench = (std::process::id() as i32, nix::unistd::gettid().as_raw());
        assert!(super::peak_kb(bench.0).is_some_and(|kb| kb > 0));
        let Ok(mut child) = std::process::Command::new("sleep").arg("1").spawn() else {
            return;
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut peaks = super::Peaks::default();
        super::sweep(bench, b"not-sleep", -1, &mut peaks);
        let _ = (child.kill(), child.wait());
        assert!(peaks.clients.contains_key(&(child.id() as i32)));
    }
}
