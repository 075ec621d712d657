//! One run: a fresh server, one client per agency (in the far section each behind its own
//! [`Link`]), the end-to-end time, the checks, the CPU time and the peak memory of every process
//! (sampled from outside, see [`crate::harness::memory`]); or, in its place, a floor of the same
//! data ([`crate::harness::floor`]).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{kill, killpg, Signal};

use crate::harness::data::Dataset;
use crate::harness::floor::{self, AgencyFloor};
use crate::harness::link::{Link, Spec};
use crate::harness::machine::{count_rows, cpu_total, load_1min, tcp_ext, RUSAGE_CHILDREN};
use crate::harness::memory::Sampler;
use crate::harness::procs::{remove_dir, wait_all, Proc, Spawn};
use crate::harness::{
    fail, fields, for_each_line, get, mismatch, succeeded, Ctx, Result, RunError,
};

/// What one run measured (peaks in KiB); `failures` empty means it passed.
#[derive(Default, Debug)]
pub struct RunResult {
    /// First client spawned → last client exited.
    pub e2e: Option<Duration>,
    /// The coordinator's draw scan, in µs.
    pub draw_us: Option<u64>,
    /// First client spawned → last client spawned (the bench's own share of `e2e`).
    pub spawn: Option<Duration>,
    /// Whether the clients were started from a `SCHED_FIFO` thread.
    pub spawn_urgent: bool,
    /// Peak RSS: the parent server, the largest session, the coordinator, the largest client.
    pub rss: [Option<u64>; 4],
    /// The kernel's `TcpExt: ListenOverflows` over the run (the whole network namespace's).
    pub listen_overflows: Option<u64>,
    /// `action: reconnect` lines over all the clients' logs.
    pub reconnects: u64,
    /// CPU time of the server and what it forked (`RUSAGE_CHILDREN`, once it exited).
    pub cpu_server: Option<Duration>,
    /// CPU time of the clients (`RUSAGE_CHILDREN`, once they all exited).
    pub cpu_clients: Option<Duration>,
    /// What a per-agency floor run measured.
    pub agency_floor: Option<AgencyFloor>,
    /// The 1-minute load average when the run ended.
    pub load: Option<f64>,
    /// Sweeps the memory sampler made, and the CPU time it used.
    pub sampler: (u64, Duration),
    /// Why the run failed, if it did.
    pub failures: Vec<String>,
}

/// Indices into [`RunResult::rss`].
pub const PARENT: usize = 0;
/// The largest session child.
pub const SESSION: usize = 1;
/// The coordinator.
pub const COORDINATOR: usize = 2;
/// The largest client.
pub const CLIENT: usize = 3;
/// The roles' names, by index.
pub const ROLES: [&str; 4] = ["parent", "session", "coordinator", "client"];

/// How a run configures the server and the clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settings {
    /// Durable (`SYNC=true`) or not, the batch size, DEBUG logs on both sides.
    Tuned(bool, u16),
    /// The shipped defaults: only what the server and each client must be told.
    Shipped,
    /// The shipped server; each client behind its own emulated link (`None`: straight to the
    /// server) and given these `CLI_` settings on top of what it must be told.
    Far(Option<Spec>, &'static [(&'static str, &'static str)]),
    /// Not tp0: the loopback floor of the same data ([`floor::loopback`]).
    Floor,
    /// Not tp0: the per-agency floor, as many times as the data has agencies.
    AgencyFloor,
    /// As `Tuned`, but the clients are `client-one-pass`: no check of their files before
    /// connecting, its work done as each row is sent.
    OnePass(bool, u16),
}

impl Settings {
    /// For progress lines.
    pub fn describe(&self) -> String {
        match self {
            Settings::Tuned(durable, batch) => format!("{}, batch {batch}", sync_name(*durable)),
            Settings::Shipped => "shipped defaults".into(),
            Settings::Far(link, env) => {
                let link = link.map_or("none".into(), |l| {
                    format!("RTT {:?} at {} B/s", l.rtt(), l.rate)
                });
                format!("link {link}, client {env:?}")
            }
            Settings::Floor => "loopback floor".into(),
            Settings::AgencyFloor => "per-agency floor".into(),
            Settings::OnePass(durable, batch) => {
                let tuned = Settings::Tuned(*durable, *batch).describe();
                format!("{tuned}, clients reading their files once")
            }
        }
    }
}

/// `durable` or `relaxed`.
pub fn sync_name(durable: bool) -> &'static str {
    ["relaxed", "durable"][usize::from(durable)]
}

/// Starts the server in `dir` and returns it with the port it logged.
pub fn start_server(
    ctx: &Ctx,
    dir: &Path,
    agencies: usize,
    settings: Settings,
) -> Result<(Proc, u16)> {
    let (program, log) = (ctx.bin("server"), dir.join("server.log"));
    let mut env = vec![
        ("SERVER_PORT", "0".to_string()),
        ("AGENCIES", agencies.to_string()),
        ("BETS_FILE", dir.join("bets.csv").display().to_string()),
    ];
    if let Settings::Tuned(durable, _) | Settings::OnePass(durable, _) = settings {
        env.extend([
            ("SYNC", durable.to_string()),
            ("LOGGING_LEVEL", "DEBUG".into()),
        ]);
    }
    let mut server = Proc::start("server", &Spawn(&program, dir, &log, &[], &env, true), true)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (mut port, mut tail) = (None, Vec::new());
        for_each_line(&log, |line| {
            let f = fields(line);
            port = port.or_else(|| get(&f, "port").filter(|_| succeeded(&f, "listen")));
            tail.push(line.to_string());
        })?;
        if let Some(port) = port {
            return Ok((server, port));
        }
        if let Some(status) = server.poll()? {
            let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
            return Err(format!("server {status} before listening: {tail}").into());
        }
        ctx.check()?;
        if Instant::now() >= deadline {
            return Err("server logged no listen port in 15 s".to_string().into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sends the server SIGTERM and waits 20 s for it; what went wrong goes to `failures`.
pub fn stop_server(ctx: &Ctx, server: &mut Proc, failures: &mut Vec<String>) -> Result<()> {
    let _ = kill(server.pid, Signal::SIGTERM);
    match server.wait_until(ctx, Instant::now() + Duration::from_secs(20))? {
        // Sessions and the coordinator are in the server's process group: none may outlive it.
        Some(status) if status.success() => {
            if killpg(server.pid, None).is_ok() {
                failures.push("processes of the server's group left after it exited".into());
            }
        }
        Some(status) => failures.push(format!("server {status}")),
        None => {
            server.kill_group();
            failures.push("server still running 20 s after SIGTERM (killed)".into());
        }
    }
    Ok(())
}

/// Adds a failure unless the bets file in `dir` has `want` rows.
pub fn check_rows(dir: &Path, want: u64, failures: &mut Vec<String>) -> Result<()> {
    let rows = count_rows(&dir.join("bets.csv"))?;
    if rows != want {
        failures.push(format!("bets file has {rows} rows, expected {want}"));
    }
    Ok(())
}

/// Runs `work` in `dir`, made afresh and removed after it; only an interruption is an error,
/// any other failure is handed back.
pub fn in_scratch(dir: &Path, work: impl FnOnce() -> Result<()>) -> Result<Option<String>> {
    remove_dir(dir);
    let created = std::fs::create_dir_all(dir).map_err(fail(format!("create {}", dir.display())));
    let outcome = created.and_then(|()| work());
    remove_dir(dir);
    match outcome {
        Err(RunError::Fail(reason)) => Ok(Some(reason)),
        other => other.map(|()| None),
    }
}

/// One run in `dir`: server, clients, checks (or a floor). Only an interruption is returned as
/// an error; every other problem becomes a failure in the result.
pub fn run_once(ctx: &Ctx, data: &Dataset, settings: Settings, dir: &Path) -> Result<RunResult> {
    let mut result = RunResult::default();
    let failed = in_scratch(dir, || match settings {
        Settings::Floor => floor::loopback(data, dir).map(|took| result.e2e = Some(took)),
        Settings::AgencyFloor => floor::per_agency(ctx, dir, data.files.len()).map(|floor| {
            result.e2e = Some(floor.process_wall * data.files.len() as u32);
            result.agency_floor = Some(floor);
        }),
        _ => run_tp0(ctx, data, settings, dir, &mut result),
    })?;
    result.failures.extend(failed);
    Ok(result)
}

/// Sets the calling thread's scheduling policy; true if it could.
fn schedule(policy: libc::c_int, sched_priority: libc::c_int) -> bool {
    let param = libc::sched_param { sched_priority };
    // SAFETY: a system call on the calling thread (pid 0), with a valid parameter.
    unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
}

/// Starts the clients, one per agency file, each told to connect to `addresses[i]`.
fn start_clients(
    ctx: &Ctx,
    data: &Dataset,
    settings: Settings,
    dir: &Path,
    addresses: &[SocketAddr],
) -> Result<Vec<Proc>> {
    let program = match settings {
        Settings::OnePass(..) => ctx.bin("client-one-pass"),
        _ => ctx.bin("client"),
    };
    let start = |(i, file): (usize, &std::path::PathBuf)| {
        let mut env = vec![
            ("CLI_ID", (i + 1).to_string()),
            ("CLI_MODE", "agency".into()),
            ("CLI_SERVER_ADDRESS", addresses[i].to_string()),
            ("CLI_DATA_FILE", file.display().to_string()),
        ];
        match settings {
            Settings::Tuned(_, batch) | Settings::OnePass(_, batch) => env.extend([
                ("CLI_BATCH_MAXAMOUNT", batch.to_string()),
                ("CLI_LOG_LEVEL", "DEBUG".into()),
            ]),
            Settings::Far(_, extra) => env.extend(extra.iter().map(|&(k, v)| (k, v.to_string()))),
            _ => {}
        }
        let log = dir.join(format!("client-{}.log", i + 1));
        let spawn = Spawn(&program, dir, &log, &[], &env, false);
        Proc::start(format!("client {}", i + 1), &spawn, false)
    };
    data.files.iter().enumerate().map(start).collect()
}

/// Adds a failure for each client that did not exit 0 or whose log's last `action` success line
/// does not give `key` as `want[i]`; the `action: reconnect` lines of all their logs.
fn check_clients(
    dir: &Path,
    clients: &[Proc],
    ((action, key), want): ((&str, &str), &[u64]),
    failures: &mut Vec<String>,
) -> Result<u64> {
    let mut reconnects = 0;
    for (i, client) in clients.iter().enumerate() {
        let id = i + 1;
        if let Some(status) = client.status.filter(|s| !s.success()) {
            failures.push(format!("client {id} {status}"));
        }
        let mut got: Option<u64> = None;
        for_each_line(&dir.join(format!("client-{id}.log")), |line| {
            let f = fields(line);
            reconnects += u64::from(f.contains(&("action", "reconnect")));
            got = get(&f, key).filter(|_| succeeded(&f, action)).or(got);
        })?;
        let expected = want.get(i).copied().unwrap_or_default();
        failures.extend(mismatch(got, expected, key, action).map(|m| format!("client {id}: {m}")));
    }
    Ok(reconnects)
}

/// Waits for `clients`, started at `start`, for 20 s, 10 µs per bet and `extra`; the instant the
/// last one exited.
fn wait_clients(
    ctx: &Ctx,
    data: &Dataset,
    clients: &mut [Proc],
    (start, extra): (Instant, Duration),
) -> Result<Instant> {
    let timeout = Duration::from_secs(20) + Duration::from_micros(data.bets * 10) + extra;
    let Some(end) = wait_all(ctx, clients, start + timeout)? else {
        let running = clients.iter().filter(|c| c.status.is_none()).count();
        let (agencies, secs) = (clients.len(), timeout.as_secs());
        let why = format!(
            "timeout after {secs} s: {running} of {agencies} clients still running (killed)"
        );
        return Err(why.into());
    };
    Ok(end)
}

/// tp0's run; the [`Proc`] guards kill whatever is left on any early return.
fn run_tp0(
    ctx: &Ctx,
    data: &Dataset,
    settings: Settings,
    dir: &Path,
    result: &mut RunResult,
) -> Result<()> {
    let agencies = data.files.len();
    let cpu_before = cpu_total(RUSAGE_CHILDREN);
    let (mut server, port) = start_server(ctx, dir, agencies, settings)?;
    // VmHWM is a high-water mark: starting now loses nothing of what the server did so far.
    let sampler = Sampler::start(server.pid.as_raw())?;
    let upstream = SocketAddr::from(([127, 0, 0, 1], port));
    let (mut links, mut round_trips) = (Vec::new(), Duration::ZERO);
    if let Settings::Far(Some(spec), _) = settings {
        let started = (0..agencies).map(|_| Link::start(spec, upstream));
        let started: std::io::Result<_> = started.collect();
        links = started.map_err(fail("start the link emulator"))?;
        // Room for a round trip per 50 bets of the largest agency, and a hundred more.
        let largest = data.largest().0 / 50 + 100;
        round_trips = spec.rtt() * u32::try_from(largest).unwrap_or(u32::MAX);
    }
    let addresses: Vec<SocketAddr> = (0..agencies)
        .map(|i| links.get(i).map_or(upstream, Link::addr))
        .collect();
    let overflows_before = tcp_ext("ListenOverflows");
    // The clients start from this thread under `SCHED_FIFO` with `SCHED_RESET_ON_FORK`, if
    // allowed (`CAP_SYS_NICE`): not queued for a CPU behind those already started, while each
    // child runs as an ordinary process.
    result.spawn_urgent = schedule(libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, 1);
    let start = Instant::now();
    let clients = start_clients(ctx, data, settings, dir, &addresses);
    result.spawn = Some(start.elapsed());
    result.spawn_urgent &= schedule(libc::SCHED_OTHER, 0);
    let mut clients = clients?;
    let end = wait_clients(ctx, data, &mut clients, (start, round_trips))?;
    result.e2e = Some(end - start);
    let cpu_clients = cpu_total(RUSAGE_CHILDREN).saturating_sub(cpu_before);
    (result.cpu_clients, result.load) = (Some(cpu_clients), load_1min());
    let overflows = overflows_before.zip(tcp_ext("ListenOverflows"));
    result.listen_overflows = overflows.map(|(a, b)| b.saturating_sub(a));
    stop_server(ctx, &mut server, &mut result.failures)?;
    let peaks = sampler.finish();
    if server.status.is_some() {
        result.cpu_server =
            Some(cpu_total(RUSAGE_CHILDREN).saturating_sub(cpu_before + cpu_clients));
    }
    let want = (("consulta_ganadores", "cant_ganadores"), &data.winners[..]);
    result.reconnects = check_clients(dir, &clients, want, &mut result.failures)?;
    let (mut drawn, mut coordinators) = (None, Vec::new());
    for_each_line(&dir.join("server.log"), |line| {
        let f = fields(line);
        coordinators.extend(get::<i32>(&f, "pid").filter(|_| succeeded(&f, "start_coordinator")));
        let scan = get(&f, "us").filter(|_| f.contains(&("action", "draw_scan")));
        result.draw_us = scan.or(result.draw_us);
        drawn = get::<u64>(&f, "ganadores")
            .filter(|_| succeeded(&f, "sorteo"))
            .or(drawn);
    })?;
    // The server's children are its coordinator (the pids its log gave) and its sessions.
    let largest = |coordinator: bool| {
        let of = peaks
            .server_children
            .iter()
            .filter(|(pid, _)| coordinators.contains(pid) == coordinator);
        of.map(|(_, kb)| *kb).max()
    };
    result.rss = [peaks.server, largest(false), largest(true), peaks.client];
    result.sampler = (peaks.sweeps, peaks.busy);
    let expected: u64 = data.winners.iter().sum();
    result
        .failures
        .extend(mismatch(drawn, expected, "sorteo ganadores", "sorteo"));
    check_rows(dir, data.bets, &mut result.failures)
}
