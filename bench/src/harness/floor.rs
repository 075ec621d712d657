//! The physical floors, measured in the same run as tp0: [`loopback`] (the bytes over loopback
//! TCP into one file, one `fdatasync`) and [`per_agency`] (a no-op process and a connection).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::data::Dataset;
use crate::harness::machine::{cpu_total, RUSAGE_CHILDREN, RUSAGE_THREAD};
use crate::harness::procs::{wait_all, Proc, Spawn};
use crate::harness::{fail, Ctx, Result};

/// Appends what one connection sends to `file`; the bytes received.
fn receive(mut stream: TcpStream, mut file: &File) -> io::Result<u64> {
    // On the thread's stack: no heap arena of the bench grows for it.
    let (mut buf, mut total) = ([0u8; 64 * 1024], 0);
    loop {
        match stream.read(&mut buf)? {
            0 => return Ok(total),
            n => {
                file.write_all(&buf[..n])?;
                total += n as u64;
            }
        }
    }
}

/// Joins a thread of the floor, its panic an error.
fn join<T>(handle: thread::JoinHandle<io::Result<T>>) -> Result<T> {
    let result = handle
        .join()
        .map_err(|_| "floor: a thread panicked".to_string())?;
    result.map_err(fail("floor"))
}

/// A listener on a free port of 127.0.0.1, and its address.
fn listen() -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(fail("floor: bind"))?;
    let addr = listener.local_addr().map_err(fail("floor: address"))?;
    Ok((listener, addr))
}

/// The loopback floor of `data`: from the first connection to the `fdatasync` of the file in
/// `dir` holding every byte.
pub fn loopback(data: &Dataset, dir: &Path) -> Result<Duration> {
    let path = dir.join("floor.bin");
    let file = OpenOptions::new().create(true).append(true).open(&path);
    let file = Arc::new(file.map_err(fail(format!("create {}", path.display())))?);
    let (listener, addr) = listen()?;
    let sizes = data.files.iter().filter_map(|f| f.metadata().ok());
    let expected: u64 = sizes.map(|m| m.len()).sum();
    let started = Instant::now();
    let (agencies, sink) = (data.files.len(), Arc::clone(&file));
    let receiver = thread::spawn(move || -> io::Result<u64> {
        let mut readers = Vec::with_capacity(agencies);
        for _ in 0..agencies {
            let (stream, file) = (listener.accept()?.0, Arc::clone(&sink));
            readers.push(thread::spawn(move || receive(stream, &file)));
        }
        readers.into_iter().map(|r| r.join().unwrap_or(Ok(0))).sum()
    });
    let send = |path| {
        thread::spawn(move || {
            let mut stream = TcpStream::connect(addr)?;
            // The kernel's `sendfile`, through `io::copy`.
            io::copy(&mut File::open(path)?, &mut stream)?;
            stream.shutdown(Shutdown::Write)
        })
    };
    let senders: Vec<_> = data.files.iter().cloned().map(send).collect();
    for sender in senders {
        join(sender)?;
    }
    let received = join(receiver)?;
    file.sync_data().map_err(fail("floor: fdatasync"))?;
    let took = started.elapsed();
    if received != expected {
        return Err(format!("floor: {received} bytes received, {expected} sent").into());
    }
    Ok(took)
}

/// What the machine needs at least per agency, in CPU time and in wall-clock time.
#[derive(Clone, Copy, Debug, Default)]
pub struct AgencyFloor {
    /// CPU per agency: a process started (the child's own and the parent's fork) and a
    /// connection connected, accepted and closed (both ends).
    pub cpu: Duration,
    /// Wall-clock time per process, `n` started at once and waited for.
    pub process_wall: Duration,
}

/// Starts `n` no-op processes at once and makes `n` connections, in `dir`.
pub fn per_agency(ctx: &Ctx, dir: &Path, n: usize) -> Result<AgencyFloor> {
    let n32 = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    let (program, log) = (ctx.bin("noop"), dir.join("noop.log"));
    let spawn = Spawn(&program, dir, &log, &[], &[], false);
    let (children_before, thread_before) = (cpu_total(RUSAGE_CHILDREN), cpu_total(RUSAGE_THREAD));
    let started = Instant::now();
    let procs = (0..n).map(|i| Proc::start(format!("noop {i}"), &spawn, false));
    let mut procs = procs.collect::<Result<Vec<_>, _>>()?;
    let forked = cpu_total(RUSAGE_THREAD).saturating_sub(thread_before);
    let none = || "floor: no-op processes still running after 60 s".to_string();
    wait_all(ctx, &mut procs, started + Duration::from_secs(60))?.ok_or_else(none)?;
    let process_wall = started.elapsed() / n32;
    if let Some(p) = procs
        .iter()
        .find(|p| !p.status.is_some_and(|s| s.success()))
    {
        return Err(format!("floor: {} did not exit 0", p.name).into());
    }
    let children = cpu_total(RUSAGE_CHILDREN).saturating_sub(children_before);
    let (listener, addr) = listen()?;
    let before = cpu_total(RUSAGE_THREAD);
    for _ in 0..n {
        let client = TcpStream::connect(addr).map_err(fail("floor: connect"))?;
        let (server, _) = listener.accept().map_err(fail("floor: accept"))?;
        drop((client, server));
    }
    let connections = cpu_total(RUSAGE_THREAD).saturating_sub(before) / n32;
    let cpu = (children + forked) / n32 + connections;
    Ok(AgencyFloor { cpu, process_wall })
}
