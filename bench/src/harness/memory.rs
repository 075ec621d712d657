//! Peak memory measured from outside: a sampler thread reads the `VmHWM` (peak resident set) of
//! every process of a run from `/proc/<pid>/status`. The product logs nothing for it.
//!
//! The processes are found through `/proc/<pid>/task/<tid>/children`: the children of the bench
//! thread that spawns them are the server and the clients; the server's children are its session children and the
//! coordinator (which one is the coordinator its log says). `VmHWM` starts afresh at `execve`
//! and, at `fork`, at the child's current resident set, so unlike `ru_maxrss` it does not carry
//! the launcher's peak. It is a high-water mark: a process's last sample before it exits is its
//! peak, unless it grew in the last interval (a zombie has no `VmHWM` any more).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::ctx::{fail, RunError};

/// The shortest pause between two sweeps over the processes.
pub const MIN_INTERVAL: Duration = Duration::from_millis(5);
/// A sweep may take at most this share (1/n) of the sampler's time, so that reading /proc does
/// not compete with the runs it measures: the pause is at least `n - 1` sweeps long.
const DUTY_DIVISOR: u32 = 10;

/// The peaks (KiB) seen during one run, by pid.
#[derive(Debug, Default)]
pub struct Peaks {
    /// The parent server.
    pub server: Option<u64>,
    /// The server's children: session children and the coordinator.
    pub server_children: HashMap<i32, u64>,
    /// The bench's other children: the clients.
    pub clients: HashMap<i32, u64>,
    /// Sweeps done.
    pub sweeps: u64,
    /// CPU time the sampler thread used (its own cost, on a core the run could have used).
    pub busy: Duration,
}

/// A running sampler; [`Sampler::finish`] stops it and hands back what it saw.
pub struct Sampler {
    /// Tells the thread to stop.
    stop: Arc<AtomicBool>,
    /// The thread, until joined.
    handle: Option<JoinHandle<Peaks>>,
}

impl Sampler {
    /// Starts sampling the server `server` (spawned by the calling thread) and everything it
    /// forks, and every other child the calling thread spawns: the clients.
    pub fn start(server: i32) -> Result<Sampler, RunError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let bench = Spawner::current();
        let handle = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || sample(bench, server, &flag))
            .map_err(fail("start the memory sampler thread"))?;
        Ok(Sampler {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread (after one last sweep) and returns the peaks.
    pub fn finish(mut self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
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

/// The sampler thread's loop.
fn sample(bench: Spawner, server: i32, stop: &AtomicBool) -> Peaks {
    let mut peaks = Peaks::default();
    let mut buf = Vec::with_capacity(4096);
    loop {
        let last = stop.load(Ordering::Relaxed);
        let began = Instant::now();
        sweep(&bench, server, &mut peaks, &mut buf);
        let took = began.elapsed();
        if last {
            peaks.busy = thread_cpu_time();
            return peaks;
        }
        let pause = (took * (DUTY_DIVISOR - 1)).max(MIN_INTERVAL);
        std::thread::sleep(pause);
    }
}

/// CPU time the calling thread has used (zero if the clock cannot be read).
fn thread_cpu_time() -> Duration {
    use nix::time::{clock_gettime, ClockId};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// One look at every process of the run.
fn sweep(bench: &Spawner, server: i32, peaks: &mut Peaks, buf: &mut Vec<u8>) {
    peaks.sweeps += 1;
    keep_max(&mut peaks.server, peak_kb(server, buf));
    for pid in children(&Spawner::main_thread(server), buf) {
        if let Some(kb) = peak_kb(pid, buf) {
            let slot = peaks.server_children.entry(pid).or_insert(0);
            *slot = (*slot).max(kb);
        }
    }
    for pid in children(bench, buf).into_iter().filter(|&p| p != server) {
        // Between its fork and its exec a client is still a copy of the bench, whose peak it
        // shows: only a process that no longer bears the bench's name counts.
        let execed =
            read_proc(&format!("/proc/{pid}/comm"), buf) && buf.as_slice() != bench.comm.as_slice();
        if let Some(kb) = peak_kb(pid, buf).filter(|_| execed) {
            let slot = peaks.clients.entry(pid).or_insert(0);
            *slot = (*slot).max(kb);
        }
    }
}

/// A thread that spawns processes: Linux lists children per thread.
#[derive(Clone, Debug)]
struct Spawner {
    /// The process's name, as `/proc/<pid>/comm` gives it.
    comm: Vec<u8>,
    /// The process.
    pid: i32,
    /// The thread.
    tid: i32,
}

impl Spawner {
    /// The calling thread.
    fn current() -> Spawner {
        let comm = std::fs::read("/proc/self/comm").unwrap_or_default();
        Spawner {
            comm,
            pid: std::process::id() as i32,
            tid: nix::unistd::gettid().as_raw(),
        }
    }

    /// The main thread of a single-threaded process (the server).
    fn main_thread(pid: i32) -> Spawner {
        Spawner {
            comm: Vec::new(),
            pid,
            tid: pid,
        }
    }
}

/// Keeps the larger of an optional maximum and a new value.
fn keep_max(current: &mut Option<u64>, value: Option<u64>) {
    if let Some(v) = value {
        *current = Some(current.map_or(v, |c| c.max(v)));
    }
}

/// Reads a small /proc file into `buf`; false if it cannot be read.
fn read_proc(path: &str, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    File::open(path)
        .and_then(|mut f| f.read_to_end(buf))
        .is_ok()
}

/// The children of one thread (empty if it is gone).
fn children(task: &Spawner, buf: &mut Vec<u8>) -> Vec<i32> {
    if !read_proc(
        &format!("/proc/{}/task/{}/children", task.pid, task.tid),
        buf,
    ) {
        return Vec::new();
    }
    String::from_utf8_lossy(buf)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `VmHWM` of `pid` in KiB; `None` if it is gone or a zombie.
fn peak_kb(pid: i32, buf: &mut Vec<u8>) -> Option<u64> {
    if !read_proc(&format!("/proc/{pid}/status"), buf) {
        return None;
    }
    status_kb(&String::from_utf8_lossy(buf), "VmHWM")
}

/// A `kB` field (`VmHWM`, `VmRSS`) of a /proc status text.
pub fn status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_fields() {
        let text = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(status_kb(text, "VmHWM"), Some(2048));
        assert_eq!(status_kb(text, "VmRSS"), Some(1024));
        assert_eq!(status_kb(text, "VmPeak"), None);
    }

    #[test]
    fn samples_a_spawned_child() {
        let bench = Spawner::current();
        let mut buf = Vec::new();
        assert!(peak_kb(bench.pid, &mut buf).is_some_and(|kb| kb > 0));
        let child = std::process::Command::new("sleep").arg("1").spawn();
        let Ok(mut child) = child else { return };
        std::thread::sleep(Duration::from_millis(100));
        let mut peaks = Peaks::default();
        sweep(&bench, -1, &mut peaks, &mut buf);
        let _ = child.kill();
        let _ = child.wait();
        assert!(peaks.clients.contains_key(&(child.id() as i32)));
    }
}
