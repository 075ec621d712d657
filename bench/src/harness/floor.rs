//! The physical floors: what this machine needs at least for the work tp0 does, measured in the
//! same run as tp0 itself.
//!
//! - [`loopback`]: the agency files' bytes over loopback TCP, one connection per agency, into a
//!   receiver that appends them to one file and calls `fdatasync` once at the end. No parsing,
//!   no validation, no acknowledgements: what moving and keeping the bytes costs.
//! - [`per_agency`]: starting one process (`fork` and `exec` of the static no-op binary `noop`)
//!   and one TCP connection accepted and closed, the least an agency costs the machine.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::ctx::{fail, Ctx, RunError};
use crate::harness::data::Dataset;
use crate::harness::machine::{children_cpu, thread_cpu};
use crate::harness::procs::{wait_all, Proc, Spawn};

/// Receives every connection's bytes into `file`; the bytes written.
fn receive(listener: &TcpListener, agencies: usize, file: &Arc<File>) -> std::io::Result<u64> {
    let mut readers = Vec::with_capacity(agencies);
    for _ in 0..agencies {
        let (mut stream, _) = listener.accept()?;
        let file = Arc::clone(file);
        readers.push(thread::spawn(move || -> std::io::Result<u64> {
            // On the thread's stack: no heap arena of the bench grows for it.
            let mut buf = [0u8; 64 * 1024];
            let mut total = 0;
            loop {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    return Ok(total);
                }
                (&*file).write_all(&buf[..n])?;
                total += n as u64;
            }
        }));
    }
    let mut total = 0;
    for reader in readers {
        total += reader
            .join()
            .map_err(|_| std::io::Error::other("a receiver thread panicked"))??;
    }
    Ok(total)
}

/// Sends one agency's file (the kernel's `sendfile`, through `io::copy`) and half-closes.
fn send(addr: std::net::SocketAddr, path: &Path) -> std::io::Result<u64> {
    let mut stream = TcpStream::connect(addr)?;
    let sent = std::io::copy(&mut File::open(path)?, &mut stream)?;
    stream.shutdown(Shutdown::Write)?;
    Ok(sent)
}

/// The loopback floor of `data`: from the first connection to the `fdatasync` of the file in
/// `dir` holding every byte.
pub fn loopback(data: &Dataset, dir: &Path) -> Result<Duration, RunError> {
    let path = dir.join("floor.bin");
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(fail(format!("create {}", path.display())))?;
    let file = Arc::new(file);
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(fail("floor: bind"))?;
    let addr = listener.local_addr().map_err(fail("floor: address"))?;
    let expected: u64 = data
        .files
        .iter()
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum();
    let started = Instant::now();
    let receiver = {
        let (file, agencies) = (Arc::clone(&file), data.files.len());
        thread::spawn(move || receive(&listener, agencies, &file))
    };
    let senders: Vec<_> = data
        .files
        .iter()
        .map(|path| {
            let path = path.clone();
            thread::spawn(move || send(addr, &path))
        })
        .collect();
    for sender in senders {
        sender
            .join()
            .map_err(|_| RunError::Fail("floor: a sender panicked".into()))?
            .map_err(fail("floor: send"))?;
    }
    let received = receiver
        .join()
        .map_err(|_| RunError::Fail("floor: the receiver panicked".into()))?
        .map_err(fail("floor: receive"))?;
    file.sync_data().map_err(fail("floor: fdatasync"))?;
    let took = started.elapsed();
    if received != expected {
        return Err(RunError::Fail(format!(
            "floor: {received} bytes received, {expected} sent"
        )));
    }
    Ok(took)
}

/// What the machine needs at least per agency, in CPU time and in wall-clock time.
#[derive(Clone, Copy, Debug, Default)]
pub struct AgencyFloor {
    /// CPU per process started: the child's own (`RUSAGE_CHILDREN`) and the parent's fork.
    pub process_cpu: Duration,
    /// CPU per connection: connect, accept and close, both ends (`RUSAGE_THREAD`).
    pub connection_cpu: Duration,
    /// Wall-clock time per process, `n` started at once and waited for.
    pub process_wall: Duration,
}

impl AgencyFloor {
    /// CPU per agency: one process and one connection.
    pub fn cpu(&self) -> Duration {
        self.process_cpu + self.connection_cpu
    }
}

/// Starts `n` no-op processes at once and makes `n` connections, in `dir`.
pub fn per_agency(ctx: &Ctx, dir: &Path, n: usize) -> Result<AgencyFloor, RunError> {
    let n32 = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    let program = ctx.bin("noop");
    let log = dir.join("noop.log");
    let spawn = Spawn {
        program: &program,
        args: &[],
        dir,
        env: &[],
        log: &log,
        inherit_nofile: false,
    };
    let (children_before, thread_before) = (children_cpu(), thread_cpu());
    let started = Instant::now();
    let mut procs = (0..n)
        .map(|i| Proc::start(format!("noop {i}"), &spawn, false))
        .collect::<Result<Vec<_>, _>>()?;
    let forked = thread_cpu().saturating_sub(thread_before);
    let deadline = started + Duration::from_secs(60);
    wait_all(ctx, &mut procs, deadline)?
        .ok_or_else(|| RunError::Fail("floor: no-op processes still running after 60 s".into()))?;
    let process_wall = started.elapsed() / n32;
    if let Some(p) = procs
        .iter()
        .find(|p| !p.status.is_some_and(|s| s.success()))
    {
        return Err(RunError::Fail(format!("floor: {} did not exit 0", p.name)));
    }
    let children = children_cpu().saturating_sub(children_before);
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(fail("floor: bind"))?;
    let addr = listener.local_addr().map_err(fail("floor: address"))?;
    let before = thread_cpu();
    for _ in 0..n {
        let client = TcpStream::connect(addr).map_err(fail("floor: connect"))?;
        let (server, _) = listener.accept().map_err(fail("floor: accept"))?;
        drop((client, server));
    }
    Ok(AgencyFloor {
        process_cpu: (children + forked) / n32,
        connection_cpu: thread_cpu().saturating_sub(before) / n32,
        process_wall,
    })
}
