//! One run: a fresh server, one client per agency (in the far section each behind its own
//! [`Link`]), the end-to-end time, the checks, the CPU time and the peak memory of every
//! process (sampled from outside, see [`crate::harness::memory`]); or, in its place, the
//! loopback floor of the same data ([`crate::harness::floor`]).

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::ctx::{fail, Ctx, RunError};
use crate::harness::data::Dataset;
use crate::harness::floor;
use crate::harness::link::{Link, Spec};
use crate::harness::logs::{field, fields, for_each_line, num_field};
use crate::harness::machine::{children_cpu, count_rows, load_1min, tcp_ext};
use crate::harness::memory::{Peaks, Sampler};
use crate::harness::procs::{describe, remove_dir, wait_all, Proc, Spawn, Urgent};

/// The server's `SYNC` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    /// `SYNC=true`: fdatasync before each acknowledgement.
    Durable,
    /// `SYNC=false`.
    Relaxed,
}

impl Sync {
    /// The environment value.
    pub fn env(self) -> &'static str {
        match self {
            Sync::Durable => "true",
            Sync::Relaxed => "false",
        }
    }

    /// For tables.
    pub fn name(self) -> &'static str {
        match self {
            Sync::Durable => "durable",
            Sync::Relaxed => "relaxed",
        }
    }
}

/// What one run measured; `failures` empty means it passed.
#[derive(Default, Debug)]
pub struct RunResult {
    /// First client spawned → last client exited.
    pub e2e: Option<Duration>,
    /// The coordinator's draw scan, in µs.
    pub draw_us: Option<u64>,
    /// First client spawned → last client spawned (the bench's own share of `e2e`).
    pub spawn: Option<Duration>,
    /// Whether the clients were started from a `SCHED_FIFO` thread ([`Urgent`]).
    pub spawn_urgent: bool,
    /// Peak RSS (KiB) of the parent server.
    pub rss_server: Option<u64>,
    /// Largest peak RSS (KiB) over the session children.
    pub rss_session: Option<u64>,
    /// Peak RSS (KiB) of the coordinator.
    pub rss_coordinator: Option<u64>,
    /// Largest peak RSS (KiB) over the clients.
    pub rss_client: Option<u64>,
    /// The kernel's `TcpExt: ListenOverflows` over the run (accept queue full: a SYN dropped, to
    /// be retransmitted 1 s later); the whole network namespace's count.
    pub listen_overflows: Option<u64>,
    /// `action: reconnect` lines over all the clients' logs (each one a retry after a backoff).
    pub reconnects: u64,
    /// CPU time (user + system) of the server and what it forked (`RUSAGE_CHILDREN` of the
    /// bench, from the clients' exit to the server's): unlike wall-clock time it does not grow
    /// with other jobs' load.
    pub cpu_server: Option<Duration>,
    /// CPU time of the clients (`RUSAGE_CHILDREN` of the bench, over the run until they exited).
    pub cpu_clients: Option<Duration>,
    /// What a per-agency floor run measured.
    pub agency_floor: Option<floor::AgencyFloor>,
    /// The 1-minute load average when the run ended.
    pub load: Option<f64>,
    /// Sweeps the memory sampler made over the run's processes.
    pub sweeps: u64,
    /// CPU time the memory sampler used.
    pub sampler_busy: Duration,
    /// Why the run failed, if it did.
    pub failures: Vec<String>,
}

/// One peak of a run, picked from its result (KiB).
pub type Pick = fn(&RunResult) -> Option<u64>;

/// How a run configures the server and the clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settings {
    /// `SYNC` and the batch size as the configuration says, DEBUG logs on both sides.
    Tuned(Sync, u16),
    /// The shipped defaults: only the port, `AGENCIES`, the bets file and what each client must
    /// be told (its id, the address, its file) are set; logging at the default levels.
    Shipped,
    /// The shipped server; each client behind its own emulated link (`None`: straight to the
    /// server, no emulator) and given `client_env` on top of what it must be told.
    Far {
        /// The link between each client and the server.
        link: Option<Spec>,
        /// Extra `CLI_` settings (say, a window of one batch).
        client_env: &'static [(&'static str, &'static str)],
    },
    /// Not tp0: the loopback floor of the same data ([`floor::loopback`]).
    Floor,
    /// Not tp0: the per-agency floor, as many times as the data has agencies
    /// ([`floor::per_agency`]).
    AgencyFloor,
}

impl Settings {
    /// For progress lines.
    pub fn describe(&self) -> String {
        match self {
            Settings::Tuned(sync, batch) => format!("{}, batch {batch}", sync.name()),
            Settings::Shipped => "shipped defaults".into(),
            Settings::Far { link, client_env } => format!(
                "link {}, client {client_env:?}",
                link.map_or("none".into(), |l| format!(
                    "RTT {:?} at {} B/s",
                    l.rtt(),
                    l.rate
                ))
            ),
            Settings::Floor => "loopback floor".into(),
            Settings::AgencyFloor => "per-agency floor".into(),
        }
    }
}

/// Starts the server in `dir` and returns it with the port it logged.
pub fn start_server(
    ctx: &Ctx,
    dir: &Path,
    agencies: usize,
    settings: Settings,
) -> Result<(Proc, u16), RunError> {
    let log = dir.join("server.log");
    let mut env = vec![
        ("SERVER_PORT", "0".to_string()),
        ("AGENCIES", agencies.to_string()),
        ("BETS_FILE", dir.join("bets.csv").display().to_string()),
    ];
    if let Settings::Tuned(sync, _) = settings {
        env.push(("SYNC", sync.env().into()));
        env.push(("LOGGING_LEVEL", "DEBUG".into()));
    }
    let spawn = Spawn {
        program: &ctx.bin("server"),
        args: &[],
        dir,
        env: &env,
        log: &log,
        inherit_nofile: true,
    };
    let mut server = Proc::start("server", &spawn, true)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (mut port, mut tail) = (None, Vec::new());
        for_each_line(&log, |line| {
            if let Some(f) = fields(line) {
                if field(&f, "action") == Some("listen") && field(&f, "result") == Some("success") {
                    port = port.or_else(|| field(&f, "port")?.parse::<u16>().ok());
                }
            }
            if tail.len() == 3 {
                tail.remove(0);
            }
            tail.push(line.to_string());
        })?;
        if let Some(port) = port {
            return Ok((server, port));
        }
        if let Some(status) = server.poll()? {
            return Err(RunError::Fail(format!(
                "server {} before listening: {}",
                describe(status),
                tail.join(" / ")
            )));
        }
        ctx.check()?;
        if Instant::now() >= deadline {
            return Err(RunError::Fail(
                "server logged no listen port in 15 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One run: server, clients, checks. Only an interruption is returned as an error; every other
/// problem becomes a failure in the result.
pub fn run_once(
    ctx: &Ctx,
    data: &Dataset,
    settings: Settings,
    dir: &Path,
) -> Result<RunResult, RunError> {
    let mut result = RunResult::default();
    let created = || fs::create_dir_all(dir).map_err(fail(format!("create {}", dir.display())));
    let outcome = match settings {
        Settings::Floor => created()
            .and_then(|()| floor::loopback(data, dir))
            .map(|took| result.e2e = Some(took)),
        Settings::AgencyFloor => created()
            .and_then(|()| floor::per_agency(ctx, dir, data.files.len()))
            .map(|floor| {
                result.e2e = Some(floor.process_wall * data.files.len() as u32);
                result.agency_floor = Some(floor);
            }),
        _ => run_inner(ctx, data, settings, dir, &mut result),
    };
    remove_dir(dir);
    match outcome {
        Ok(()) => Ok(result),
        Err(RunError::Abort) => Err(RunError::Abort),
        Err(RunError::Fail(reason)) => {
            result.failures.push(reason);
            Ok(result)
        }
    }
}

/// The body of [`run_once`]; the [`Proc`] guards kill whatever is left on any early return.
fn run_inner(
    ctx: &Ctx,
    data: &Dataset,
    settings: Settings,
    dir: &Path,
    result: &mut RunResult,
) -> Result<(), RunError> {
    remove_dir(dir);
    fs::create_dir_all(dir).map_err(fail(format!("create {}", dir.display())))?;
    let agencies = data.files.len();
    let cpu_before = children_cpu();
    let (mut server, port) = start_server(ctx, dir, agencies, settings)?;
    // VmHWM is a high-water mark: starting now loses nothing of what the server did so far.
    let sampler = Sampler::start(server.pid.as_raw())?;

    let upstream = SocketAddr::from(([127, 0, 0, 1], port));
    let (links, round_trips) = match settings {
        Settings::Far {
            link: Some(spec), ..
        } => (
            (0..agencies)
                .map(|_| Link::start(spec, upstream))
                .collect::<std::io::Result<Vec<Link>>>()
                .map_err(fail("start the link emulator"))?,
            // Room for a round trip per 50 bets of the largest agency, and a hundred more.
            spec.rtt()
                * u32::try_from(data.per_agency.iter().max().map_or(0, |n| n / 50) + 100)
                    .unwrap_or(u32::MAX),
        ),
        _ => (Vec::new(), Duration::ZERO),
    };

    let overflows_before = tcp_ext("ListenOverflows");
    let timeout = Duration::from_secs(20) + Duration::from_micros(data.bets * 10) + round_trips;
    let start = Instant::now();
    let deadline = start + timeout;
    let mut clients = Vec::with_capacity(agencies);
    let client = ctx.bin("client");
    let urgent = Urgent::raise();
    result.spawn_urgent = urgent.granted;
    for (i, file) in data.files.iter().enumerate() {
        let id = i + 1;
        let mut env = vec![
            ("CLI_ID", id.to_string()),
            ("CLI_MODE", "agency".to_string()),
            (
                "CLI_SERVER_ADDRESS",
                links.get(i).map_or(upstream, Link::addr).to_string(),
            ),
            ("CLI_DATA_FILE", file.display().to_string()),
        ];
        match settings {
            Settings::Tuned(_, batch) => {
                env.push(("CLI_BATCH_MAXAMOUNT", batch.to_string()));
                env.push(("CLI_LOG_LEVEL", "DEBUG".to_string()));
            }
            Settings::Far { client_env, .. } => {
                env.extend(client_env.iter().map(|&(k, v)| (k, v.to_string())));
            }
            _ => {}
        }
        let log = dir.join(format!("client-{id}.log"));
        let spawn = Spawn {
            program: &client,
            args: &[],
            dir,
            env: &env,
            log: &log,
            inherit_nofile: false,
        };
        clients.push(Proc::start(format!("client {id}"), &spawn, false)?);
    }
    result.spawn = Some(start.elapsed());
    drop(urgent);
    match wait_all(ctx, &mut clients, deadline)? {
        Some(end) => {
            result.e2e = Some(end - start);
            result.cpu_clients = Some(children_cpu().saturating_sub(cpu_before));
            result.load = load_1min();
            result.listen_overflows = overflows_before
                .zip(tcp_ext("ListenOverflows"))
                .map(|(a, b)| b.saturating_sub(a));
        }
        None => {
            let running = clients.iter().filter(|c| c.status.is_none()).count();
            return Err(RunError::Fail(format!(
                "timeout after {} s: {running} of {agencies} clients still running (killed)",
                timeout.as_secs()
            )));
        }
    }

    server.terminate();
    match server.wait_until(ctx, Instant::now() + Duration::from_secs(20))? {
        Some(status) if status.success() => {
            // Sessions and the coordinator are in the server's process group: none may outlive it.
            if nix::sys::signal::killpg(server.pid, None).is_ok() {
                result
                    .failures
                    .push("processes of the server's group left after it exited".into());
            }
        }
        Some(status) => result.failures.push(format!("server {}", describe(status))),
        None => {
            server.kill_group();
            result
                .failures
                .push("server still running 20 s after SIGTERM (killed)".into());
        }
    }
    let peaks = sampler.finish();
    if server.status.is_some() {
        let clients = result.cpu_clients.unwrap_or_default();
        result.cpu_server = Some(children_cpu().saturating_sub(cpu_before + clients));
    }

    for (i, client) in clients.iter().enumerate() {
        let id = i + 1;
        if let Some(status) = client.status.filter(|s| !s.success()) {
            result
                .failures
                .push(format!("client {id} {}", describe(status)));
        }
        let mut told = None;
        for_each_line(&dir.join(format!("client-{id}.log")), |line| {
            let Some(f) = fields(line) else { return };
            if field(&f, "action") == Some("reconnect") {
                result.reconnects += 1;
            }
            if field(&f, "action") == Some("consulta_ganadores")
                && field(&f, "result") == Some("success")
            {
                told = num_field(&f, "cant_ganadores");
            }
        })?;
        let expected = data.winners.get(i).copied().unwrap_or_default();
        match told {
            Some(n) if n == expected => {}
            Some(n) => result.failures.push(format!(
                "client {id}: cant_ganadores {n}, expected {expected}"
            )),
            None => result
                .failures
                .push(format!("client {id}: no consulta_ganadores success line")),
        }
    }

    let (mut drawn, mut coordinators) = (None, Vec::new());
    for_each_line(&dir.join("server.log"), |line| {
        let Some(f) = fields(line) else { return };
        match field(&f, "action") {
            Some("start_coordinator") if field(&f, "result") == Some("success") => {
                coordinators.extend(num_field(&f, "pid").and_then(|p| i32::try_from(p).ok()));
            }
            Some("draw_scan") => result.draw_us = num_field(&f, "us"),
            Some("sorteo") if field(&f, "result") == Some("success") => {
                drawn = num_field(&f, "ganadores");
            }
            _ => {}
        }
    })?;
    record_peaks(result, &peaks, &coordinators);
    let expected: u64 = data.winners.iter().sum();
    match drawn {
        Some(n) if n == expected => {}
        Some(n) => result
            .failures
            .push(format!("sorteo ganadores {n}, expected {expected}")),
        None => result.failures.push("no sorteo success line".into()),
    }

    let rows = count_rows(&dir.join("bets.csv"))?;
    if rows != data.bets {
        result
            .failures
            .push(format!("bets file has {rows} rows, expected {}", data.bets));
    }
    Ok(())
}

/// Sorts the sampled peaks by role: the server's children are its coordinator (the pids its log
/// gave) and its session children.
fn record_peaks(result: &mut RunResult, peaks: &Peaks, coordinators: &[i32]) {
    result.sweeps = peaks.sweeps;
    result.sampler_busy = peaks.busy;
    result.rss_server = peaks.server;
    result.rss_client = peaks.clients.values().copied().max();
    let (coordinator, sessions): (Vec<_>, Vec<_>) = peaks
        .server_children
        .iter()
        .partition(|(pid, _)| coordinators.contains(pid));
    result.rss_coordinator = coordinator.into_iter().map(|(_, kb)| *kb).max();
    result.rss_session = sessions.into_iter().map(|(_, kb)| *kb).max();
}
