//! Peak memory measured from outside: a sampler thread reads the `VmHWM` of every process of a
//! run (found through `/proc/<pid>/task/<tid>/children`) from `/proc/<pid>/status`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::machine::proc_field;
use crate::harness::{fail, Result};

/// The shortest pause between two sweeps over the processes.
pub const MIN_INTERVAL: Duration = Duration::from_millis(5);
/// A sweep takes at most 1/n of the sampler's time.
const DUTY_DIVISOR: u32 = 10;

/// The peaks (KiB) seen during one run.
#[derive(Debug, Default)]
pub struct Peaks {
    /// The parent server.
    pub server: Option<u64>,
    /// The server's children (sessions and the coordinator), by pid.
    pub server_children: HashMap<i32, u64>,
    /// The largest of the bench's other children (the clients).
    pub client: Option<u64>,
    /// Sweeps done.
    pub sweeps: u64,
    /// CPU time the sampler thread used.
    pub busy: Duration,
}

/// A running sampler (its stop flag and thread); [`Sampler::finish`] stops it and hands back
/// what it saw, dropping it only stops it.
pub struct Sampler(Arc<AtomicBool>, Option<JoinHandle<Peaks>>);

impl Sampler {
    /// Samples the server `server` (spawned by the calling thread), everything it forks, and
    /// every other child the calling thread spawns: the clients.
    pub fn start(server: i32) -> Result<Sampler> {
        let (stop, comm) = (
            Arc::new(AtomicBool::new(false)),
            std::fs::read("/proc/self/comm"),
        );
        let (flag, comm) = (Arc::clone(&stop), comm.unwrap_or_default());
        let bench = (std::process::id() as i32, nix::unistd::gettid().as_raw());
        let thread = std::thread::Builder::new().name("rss-sampler".into());
        let handle = thread.spawn(move || sample(bench, &comm, server, &flag));
        Ok(Sampler(
            stop,
            Some(handle.map_err(fail("start the memory sampler"))?),
        ))
    }

    /// Stops the thread (after one last sweep) and returns the peaks.
    pub fn finish(mut self) -> Peaks {
        self.0.store(true, Ordering::Relaxed);
        self.1
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
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
    peaks.server = peaks.server.max(peak_kb(server));
    for pid in children((server, server)) {
        if let Some(kb) = peak_kb(pid) {
            let slot = peaks.server_children.entry(pid).or_insert(0);
            *slot = (*slot).max(kb);
        }
    }
    for pid in children(bench).into_iter().filter(|&p| p != server) {
        // Between its fork and its exec a client is a copy of the bench, whose peak it shows:
        // only a process that no longer bears the bench's name counts.
        let execed = std::fs::read(format!("/proc/{pid}/comm")).is_ok_and(|c| c != comm);
        peaks.client = peaks.client.max(peak_kb(pid).filter(|_| execed));
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
    let value = proc_field(&format!("/proc/{pid}/{file}"), key)?;
    value.split_whitespace().next()?.parse().ok()
}
