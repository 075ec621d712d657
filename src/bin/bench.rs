//! `bench`: end-to-end benchmark of the real `server` and `client` binaries on 127.0.0.1.
//!
//! # What it measures
//! For each configuration — a data set, its number of agencies, `SYNC` durable (`true`,
//! `fdatasync` before each acknowledgement) or relaxed (`false`), and the clients' batch size —
//! it starts one `server` (fresh bets file, `SERVER_PORT=0`, `LOGGING_LEVEL=DEBUG`, in an empty
//! directory so no `config.ini` is read) and one `client` per agency (mode agency, in a directory
//! without `config.yaml`), and records:
//! - **end to end**: from just before the first client is spawned until the last client has been
//!   seen to exit (polled every 0.5 ms): upload, END, the draw and the winners query included;
//! - **bets/s**: bets in the data set / end-to-end time;
//! - **draw time**: the coordinator's own `action: draw_scan | ... | us: U` log line;
//! - **peak RSS** (`ru_maxrss`, which every process logs at exit as `action: peak_memory`) of the
//!   parent server, the largest session child, the coordinator and the largest client.
//!
//! # How a run is checked
//! A run PASSes only if every client exits 0, each client's `cant_ganadores` equals its agency's
//! winners (counted from the data: rows whose number is 7574, or `gendata`'s own count), the
//! coordinator's `sorteo` total equals their sum, the server exits 0 after SIGTERM, and the bets
//! file has exactly one row per bet. Anything else, or a run still going at its timeout (every
//! process of it is then killed), makes the configuration FAILED in the table.
//!
//! # Method
//! Each configuration runs 3 times (the 10-million-bet ones once) and the table shows the median
//! time, the throughput of that median and the median draw time; RSS is the maximum over the
//! runs. Every process is started in its own process group, and each group is killed on every
//! early exit path (timeouts, errors, SIGINT/SIGTERM to the bench). Scratch data lives under
//! `target/bench-data` and is removed at the end.
//!
//! # Output
//! `docs/benchmarks.md` (table, targets with PASS/MISS, the machine, the command) and
//! `docs/benchmarks.png` (throughput against agencies and against batch size, durable vs
//! relaxed), drawn and PNG-encoded here without any crate; the table is also printed on stdout.
//!
//! Usage: `bench [--quick] [--out DIR]`. `--quick` is a smoke test (a handful of small runs,
//! well under a minute) that writes to `target/bench-quick/` unless `--out` says otherwise, so it
//! never overwrites the published results. The exit status is 1 if any run FAILED.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// How often the bench looks at its children while it waits.
const POLL: Duration = Duration::from_micros(500);
/// The number the draw picks (the course's `has_won`).
const WINNING_NUMBER: u32 = 7574;
/// Free space needed before the 10-million-bet data sets are generated.
const BIG_FREE_BYTES: u64 = 3_000_000_000;
/// Repetitions of the course dataset in the "×20" data set.
const COURSE_REPEAT: u32 = 20;
/// The client's default batch size.
const DEFAULT_BATCH: u16 = 120;
/// One MiB in KiB, for the RSS targets.
const MIB_KB: u64 = 1024;

// ---------------------------------------------------------------------------------------------
// Errors, interruption and child processes
// ---------------------------------------------------------------------------------------------

/// Why a step stopped early.
#[derive(Debug)]
enum RunError {
    /// The bench was interrupted (SIGINT, SIGTERM, SIGHUP): clean up and stop everything.
    Abort,
    /// This run or data set failed, with the reason; the bench goes on.
    Fail(String),
}

/// Turns an I/O-style error into a [`RunError::Fail`] with context.
fn fail<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> RunError {
    move |err| RunError::Fail(format!("{what}: {err}"))
}

/// What every step needs: where the binaries are and whether to stop.
struct Ctx {
    /// Directory holding `server`, `client` and `gendata`.
    bins: PathBuf,
    /// Set by the signal handlers.
    interrupted: Arc<AtomicBool>,
}

impl Ctx {
    /// `Err(Abort)` once a stop signal arrived.
    fn check(&self) -> Result<(), RunError> {
        if self.interrupted.load(Ordering::Relaxed) {
            Err(RunError::Abort)
        } else {
            Ok(())
        }
    }

    /// Path of one of the project's binaries.
    fn bin(&self, name: &str) -> PathBuf {
        self.bins.join(name)
    }
}

/// A spawned child in its own process group; the whole group is SIGKILLed when this is dropped
/// unless the child was seen to exit successfully (a server that crashed may leave children).
struct Proc {
    /// For messages.
    name: String,
    /// The child.
    child: Child,
    /// Its exit status, once reaped.
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` as the leader of a new process group.
    fn spawn(name: impl Into<String>, cmd: &mut Command) -> Result<Proc, RunError> {
        let name = name.into();
        cmd.process_group(0);
        let child = cmd.spawn().map_err(fail(format!("spawn {name}")))?;
        Ok(Proc {
            name,
            child,
            status: None,
        })
    }

    /// The child's pid (also its process group id).
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Reaps the child if it exited; the status once known.
    fn poll(&mut self) -> Result<Option<ExitStatus>, RunError> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .map_err(fail(format!("wait for {}", self.name)))?;
        }
        Ok(self.status)
    }

    /// Sends SIGTERM to the child alone (the server then stops its own children).
    fn terminate(&self) {
        if self.status.is_none() {
            // ESRCH only means it is already gone.
            let _ = kill(self.pid(), Signal::SIGTERM);
        }
    }

    /// SIGKILLs the whole process group and reaps the leader.
    fn kill_group(&mut self) {
        let _ = killpg(self.pid(), Signal::SIGKILL);
        if self.status.is_none() {
            if let Ok(status) = self.child.wait() {
                self.status = Some(status);
            }
        }
    }

    /// Waits until the child exits or `deadline` passes.
    fn wait_until(&mut self, ctx: &Ctx, deadline: Instant) -> Result<Option<ExitStatus>, RunError> {
        loop {
            if let Some(status) = self.poll()? {
                return Ok(Some(status));
            }
            if let Err(abort) = ctx.check() {
                self.kill_group();
                return Err(abort);
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !matches!(self.status, Some(status) if status.success()) {
            self.kill_group();
        }
    }
}

/// Waits for all of `procs`; `Some(instant the last one was seen to exit)`, or `None` at the
/// deadline (the stragglers are left running for the caller's guards to kill).
fn wait_all(ctx: &Ctx, procs: &mut [Proc], deadline: Instant) -> Result<Option<Instant>, RunError> {
    let mut last = Instant::now();
    loop {
        let mut running = 0;
        for proc in procs.iter_mut() {
            if proc.status.is_none() {
                if proc.poll()?.is_some() {
                    last = Instant::now();
                } else {
                    running += 1;
                }
            }
        }
        if running == 0 {
            return Ok(Some(last));
        }
        ctx.check()?;
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// Describes an exit status for a failure message.
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown exit".into(),
    }
}

/// Creates a log file for a child's stdout and stderr.
fn log_files(path: &Path) -> Result<(Stdio, Stdio), RunError> {
    let file = File::create(path).map_err(fail(format!("create {}", path.display())))?;
    let copy = file
        .try_clone()
        .map_err(fail(format!("dup {}", path.display())))?;
    Ok((Stdio::from(file), Stdio::from(copy)))
}

/// Removes a scratch directory, ignoring "not there".
fn remove_dir(path: &Path) {
    if let Err(err) = fs::remove_dir_all(path) {
        if err.kind() != std::io::ErrorKind::NotFound {
            eprintln!("bench: warning: remove {}: {err}", path.display());
        }
    }
}

/// Removes the scratch root when dropped, on every path.
struct ScratchGuard(PathBuf);

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        remove_dir(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Data sets
// ---------------------------------------------------------------------------------------------

/// Where a data set comes from.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    /// The course's agency files, read in place.
    Course,
    /// The course's agency files, each concatenated `n` times into scratch files.
    CourseRepeated(u32),
    /// `gendata <dir> <agencies> <per_agency>`.
    Generated {
        /// Agencies (files).
        agencies: u32,
        /// Bets in each file.
        per_agency: u64,
    },
}

/// A data set ready to send: one CSV per agency, with the expected outcome.
struct Dataset {
    /// Agency `i + 1` sends `files[i]`.
    files: Vec<PathBuf>,
    /// Winners per agency.
    winners: Vec<u64>,
    /// Bets in all files.
    bets: u64,
}

/// Counts the rows and the winning rows of an agency CSV (no header; number is the last field).
fn scan_csv(path: &Path) -> Result<(u64, u64), RunError> {
    let (mut rows, mut winners) = (0, 0);
    for_each_line(path, |line| {
        if line.trim().is_empty() {
            return;
        }
        rows += 1;
        let number = line.rsplit(',').next().unwrap_or_default().trim();
        if number.parse::<u32>().ok() == Some(WINNING_NUMBER) {
            winners += 1;
        }
    })?;
    Ok((rows, winners))
}

/// The course's five agency files, if all are there.
fn course_files(course_dir: &Path) -> Option<Vec<PathBuf>> {
    let files: Vec<PathBuf> = (1..=5)
        .map(|i| course_dir.join(format!("agency-{i}.csv")))
        .collect();
    files.iter().all(|f| f.is_file()).then_some(files)
}

/// Builds (or locates) a data set; generated files go under `dir`.
fn prepare(ctx: &Ctx, source: &Source, course_dir: &Path, dir: &Path) -> Result<Dataset, RunError> {
    match source {
        Source::Course => {
            let files = course_files(course_dir).ok_or_else(|| {
                RunError::Fail(format!(
                    "course dataset missing in {}",
                    course_dir.display()
                ))
            })?;
            let mut data = Dataset {
                files: Vec::new(),
                winners: Vec::new(),
                bets: 0,
            };
            for file in files {
                let (rows, winners) = scan_csv(&file)?;
                data.bets += rows;
                data.winners.push(winners);
                data.files.push(file);
            }
            Ok(data)
        }
        Source::CourseRepeated(times) => {
            let base = prepare(ctx, &Source::Course, course_dir, dir)?;
            fs::create_dir_all(dir).map_err(fail(format!("create {}", dir.display())))?;
            let mut files = Vec::new();
            for (i, src) in base.files.iter().enumerate() {
                ctx.check()?;
                let out = dir.join(format!("agency-{}.csv", i + 1));
                repeat_file(src, &out, *times)?;
                files.push(out);
            }
            Ok(Dataset {
                files,
                winners: base.winners.iter().map(|w| w * u64::from(*times)).collect(),
                bets: base.bets * u64::from(*times),
            })
        }
        Source::Generated {
            agencies,
            per_agency,
        } => generate(ctx, dir, *agencies, *per_agency),
    }
}

/// Writes `src` `times` over into `out`, with a line break between copies if `src` lacks a
/// final one. File to file (`io::copy`), so the bench's own memory stays small.
fn repeat_file(src: &Path, out: &Path, times: u32) -> Result<(), RunError> {
    let read_err = || fail(format!("read {}", src.display()));
    let write_err = || fail(format!("write {}", out.display()));
    let mut input = File::open(src).map_err(read_err())?;
    let len = input.metadata().map_err(read_err())?.len();
    let mut last = [b'\n'];
    if len > 0 {
        input.seek(SeekFrom::Start(len - 1)).map_err(read_err())?;
        input.read_exact(&mut last).map_err(read_err())?;
    }
    let mut output = File::create(out).map_err(write_err())?;
    for _ in 0..times {
        input.seek(SeekFrom::Start(0)).map_err(read_err())?;
        std::io::copy(&mut input, &mut output).map_err(write_err())?;
        if last[0] != b'\n' {
            output.write_all(b"\r\n").map_err(write_err())?;
        }
    }
    Ok(())
}

/// Runs `gendata` into `dir` and reads its `agency N: W winners` lines.
fn generate(ctx: &Ctx, dir: &Path, agencies: u32, per_agency: u64) -> Result<Dataset, RunError> {
    fs::create_dir_all(dir).map_err(fail(format!("create {}", dir.display())))?;
    let out_path = dir.join("gendata.out");
    let (out, err) = log_files(&out_path)?;
    let mut proc = Proc::spawn(
        "gendata",
        Command::new(ctx.bin("gendata"))
            .arg(dir)
            .arg(agencies.to_string())
            .arg(per_agency.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err),
    )?;
    let bets = u64::from(agencies) * per_agency;
    let timeout = Duration::from_secs(60) + Duration::from_micros(bets * 3);
    match proc.wait_until(ctx, Instant::now() + timeout)? {
        Some(status) if status.success() => {}
        Some(status) => {
            return Err(RunError::Fail(format!(
                "gendata {agencies} {per_agency}: {}",
                describe(status)
            )))
        }
        None => {
            return Err(RunError::Fail(format!(
                "gendata {agencies} {per_agency}: no exit after {}s",
                timeout.as_secs()
            )))
        }
    }
    let text =
        fs::read_to_string(&out_path).map_err(fail(format!("read {}", out_path.display())))?;
    let mut winners = vec![None; agencies as usize];
    for line in text.lines() {
        // "agency N: W winners"
        let parsed = line
            .strip_prefix("agency ")
            .and_then(|rest| rest.split_once(": "))
            .and_then(|(n, w)| {
                Some((
                    n.parse::<usize>().ok()?,
                    w.strip_suffix(" winners")?.parse::<u64>().ok()?,
                ))
            });
        if let Some((n, w)) = parsed {
            if let Some(slot) = n.checked_sub(1).and_then(|i| winners.get_mut(i)) {
                *slot = Some(w);
            }
        }
    }
    let winners: Option<Vec<u64>> = winners.into_iter().collect();
    let winners = winners.ok_or_else(|| {
        RunError::Fail(format!(
            "gendata: missing winner counts in {}",
            out_path.display()
        ))
    })?;
    Ok(Dataset {
        files: (1..=agencies)
            .map(|i| dir.join(format!("agency-{i}.csv")))
            .collect(),
        winners,
        bets,
    })
}

// ---------------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------------

/// The server's `SYNC` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sync {
    /// `SYNC=true`: fdatasync before each acknowledgement.
    Durable,
    /// `SYNC=false`.
    Relaxed,
}

impl Sync {
    /// The environment value.
    fn env(self) -> &'static str {
        match self {
            Sync::Durable => "true",
            Sync::Relaxed => "false",
        }
    }

    /// For tables.
    fn name(self) -> &'static str {
        match self {
            Sync::Durable => "durable",
            Sync::Relaxed => "relaxed",
        }
    }
}

/// What one run measured; `failures` empty means it passed.
#[derive(Default, Debug)]
struct RunResult {
    /// First client spawned → last client exited.
    e2e: Option<Duration>,
    /// The coordinator's draw scan, in ms.
    draw_us: Option<u64>,
    /// Peak RSS (KiB) of the parent server.
    rss_server: Option<u64>,
    /// Largest peak RSS (KiB) over the session children.
    rss_session: Option<u64>,
    /// Peak RSS (KiB) of the coordinator.
    rss_coordinator: Option<u64>,
    /// Largest peak RSS (KiB) over the clients.
    rss_client: Option<u64>,
    /// The bench's own peak RSS (KiB) when it spawned the processes: a floor under the others.
    floor: Option<u64>,
    /// Why the run failed, if it did.
    failures: Vec<String>,
}

/// The `key: value` details of a log line, after `action: `.
fn fields(line: &str) -> Option<Vec<(&str, &str)>> {
    let start = line.find("action: ")?;
    Some(
        line[start..]
            .split(" | ")
            .filter_map(|part| part.split_once(": "))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect(),
    )
}

/// A field's value.
fn field<'a>(fields: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A numeric field's value.
fn num_field(fields: &[(&str, &str)], key: &str) -> Option<u64> {
    field(fields, key)?.parse().ok()
}

/// Calls `each` with every line of a file, without its line ending; bytes that are not UTF-8
/// are replaced. Streams, so that the bench itself stays small (see [`reset_peak_rss`]).
fn for_each_line(path: &Path, mut each: impl FnMut(&str)) -> Result<(), RunError> {
    let file = File::open(path).map_err(fail(format!("open {}", path.display())))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(fail(format!("read {}", path.display())))?;
        if n == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&buf);
        each(line.trim_end_matches(['\r', '\n']));
    }
}

/// A `kB` field of /proc/self/status (`VmRSS`, `VmHWM`).
fn self_status_kb(key: &str) -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Linux keeps a process's peak RSS across `fork` and `execve`, so every child would report at
/// least the bench's own peak as its `ru_maxrss`. This resets the bench's peak to its current
/// RSS (`/proc/self/clear_refs`, Linux 4.0+; fails soft) and returns the peak that remains: the
/// floor under any RSS a child spawned now can report.
fn reset_peak_rss() -> Option<u64> {
    let _ = fs::write("/proc/self/clear_refs", "5");
    self_status_kb("VmHWM")
}

/// Keeps the larger of an optional maximum and a new value.
fn max_opt(current: Option<u64>, value: Option<u64>) -> Option<u64> {
    match (current, value) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Counts the rows (line feeds) of the bets file.
fn count_rows(path: &Path) -> Result<u64, RunError> {
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

/// Starts the server in `dir` and returns it with the port it logged.
fn start_server(
    ctx: &Ctx,
    dir: &Path,
    agencies: usize,
    sync: Sync,
) -> Result<(Proc, u16), RunError> {
    let log = dir.join("server.log");
    let (out, err) = log_files(&log)?;
    let mut server = Proc::spawn(
        "server",
        Command::new(ctx.bin("server"))
            .current_dir(dir)
            .env_clear()
            .env("SERVER_PORT", "0")
            .env("AGENCIES", agencies.to_string())
            .env("BETS_FILE", dir.join("bets.csv"))
            .env("SYNC", sync.env())
            .env("LOGGING_LEVEL", "DEBUG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err),
    )?;
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
fn run_once(
    ctx: &Ctx,
    data: &Dataset,
    sync: Sync,
    batch: u16,
    dir: &Path,
) -> Result<RunResult, RunError> {
    let mut result = RunResult::default();
    let outcome = run_inner(ctx, data, sync, batch, dir, &mut result);
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
    sync: Sync,
    batch: u16,
    dir: &Path,
    result: &mut RunResult,
) -> Result<(), RunError> {
    remove_dir(dir);
    fs::create_dir_all(dir).map_err(fail(format!("create {}", dir.display())))?;
    let agencies = data.files.len();
    result.floor = reset_peak_rss();
    let (mut server, port) = start_server(ctx, dir, agencies, sync)?;
    result.floor = max_opt(result.floor, reset_peak_rss());

    let timeout = Duration::from_secs(20) + Duration::from_micros(data.bets * 10);
    let start = Instant::now();
    let deadline = start + timeout;
    let mut clients = Vec::with_capacity(agencies);
    for (i, file) in data.files.iter().enumerate() {
        let id = i + 1;
        let (out, err) = log_files(&dir.join(format!("client-{id}.log")))?;
        clients.push(Proc::spawn(
            format!("client {id}"),
            Command::new(ctx.bin("client"))
                .current_dir(dir)
                .env_clear()
                .env("CLI_ID", id.to_string())
                .env("CLI_MODE", "agency")
                .env("CLI_SERVER_ADDRESS", format!("127.0.0.1:{port}"))
                .env("CLI_DATA_FILE", file)
                .env("CLI_BATCH_MAXAMOUNT", batch.to_string())
                .env("CLI_LOG_LEVEL", "DEBUG")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err),
        )?);
    }
    match wait_all(ctx, &mut clients, deadline)? {
        Some(end) => result.e2e = Some(end - start),
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
        Some(status) if status.success() => {}
        Some(status) => result.failures.push(format!("server {}", describe(status))),
        None => {
            server.kill_group();
            result
                .failures
                .push("server still running 20 s after SIGTERM (killed)".into());
        }
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
            match field(&f, "action") {
                Some("consulta_ganadores") if field(&f, "result") == Some("success") => {
                    told = num_field(&f, "cant_ganadores");
                }
                Some("peak_memory") => {
                    result.rss_client = max_opt(result.rss_client, num_field(&f, "max_rss_kb"));
                }
                _ => {}
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

    let mut drawn = None;
    for_each_line(&dir.join("server.log"), |line| {
        let Some(f) = fields(line) else { return };
        match field(&f, "action") {
            Some("peak_memory") => {
                let kb = num_field(&f, "max_rss_kb");
                match field(&f, "role") {
                    Some("server") => result.rss_server = max_opt(result.rss_server, kb),
                    Some("session") => result.rss_session = max_opt(result.rss_session, kb),
                    Some("coordinator") => {
                        result.rss_coordinator = max_opt(result.rss_coordinator, kb)
                    }
                    _ => {}
                }
            }
            Some("draw_scan") => result.draw_us = num_field(&f, "us"),
            Some("sorteo") if field(&f, "result") == Some("success") => {
                drawn = num_field(&f, "ganadores");
            }
            _ => {}
        }
    })?;
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

// ---------------------------------------------------------------------------------------------
// The plan and its results
// ---------------------------------------------------------------------------------------------

/// What a group of configurations is plotted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChartRole {
    /// One category of the "against agencies" panel.
    Agencies,
    /// The "against batch size" panel.
    Batches,
}

/// Configurations sharing one data set.
struct Group {
    /// Stable key used by the targets.
    id: &'static str,
    /// Where the data comes from.
    source: Source,
    /// Human description of the data.
    label: String,
    /// Sync settings × batch sizes to run.
    configs: Vec<(Sync, u16)>,
    /// Repetitions.
    runs: usize,
    /// Needs [`BIG_FREE_BYTES`] of free disk.
    big: bool,
    /// Its place in the chart, if any.
    chart: Option<ChartRole>,
}

/// Durable and relaxed at one batch size.
fn both(batch: u16) -> Vec<(Sync, u16)> {
    vec![(Sync::Durable, batch), (Sync::Relaxed, batch)]
}

/// Durable and relaxed at each batch size.
fn sweep(batches: &[u16]) -> Vec<(Sync, u16)> {
    batches.iter().flat_map(|&b| both(b)).collect()
}

/// The configurations to run; `course_present` picks generated stand-ins otherwise.
fn plan(quick: bool, course_present: bool) -> Vec<Group> {
    let course = if course_present {
        Source::Course
    } else {
        Source::Generated {
            agencies: 5,
            per_agency: 15_740,
        }
    };
    let course_x20 = if course_present {
        Source::CourseRepeated(COURSE_REPEAT)
    } else {
        Source::Generated {
            agencies: 5,
            per_agency: 314_788,
        }
    };
    let stand_in = if course_present {
        ""
    } else {
        " (generated stand-in: course dataset absent)"
    };
    let gen = |agencies: u32, per_agency: u64| Source::Generated {
        agencies,
        per_agency,
    };
    if quick {
        return vec![
            Group {
                id: "course",
                source: course,
                label: format!("course{stand_in}"),
                configs: sweep(&[30, DEFAULT_BATCH]),
                runs: 1,
                big: false,
                chart: Some(ChartRole::Batches),
            },
            Group {
                id: "gen-200k-5",
                source: gen(5, 40_000),
                label: "generated 200k".into(),
                configs: both(DEFAULT_BATCH),
                runs: 1,
                big: false,
                chart: Some(ChartRole::Agencies),
            },
            Group {
                id: "gen-200k-50",
                source: gen(50, 4_000),
                label: "generated 200k".into(),
                configs: both(DEFAULT_BATCH),
                runs: 1,
                big: false,
                chart: Some(ChartRole::Agencies),
            },
        ];
    }
    vec![
        Group {
            id: "course",
            source: course,
            label: format!("course{stand_in}"),
            configs: both(DEFAULT_BATCH),
            runs: 3,
            big: false,
            chart: None,
        },
        Group {
            id: "course-x20",
            source: course_x20,
            label: format!("course ×{COURSE_REPEAT}{stand_in}"),
            configs: sweep(&[30, 60, DEFAULT_BATCH, 140]),
            runs: 3,
            big: false,
            chart: Some(ChartRole::Batches),
        },
        Group {
            id: "gen-1m-5",
            source: gen(5, 200_000),
            label: "generated 1M".into(),
            configs: both(DEFAULT_BATCH),
            runs: 3,
            big: false,
            chart: Some(ChartRole::Agencies),
        },
        Group {
            id: "gen-1m-50",
            source: gen(50, 20_000),
            label: "generated 1M".into(),
            configs: both(DEFAULT_BATCH),
            runs: 3,
            big: false,
            chart: Some(ChartRole::Agencies),
        },
        Group {
            id: "gen-10m-5",
            source: gen(5, 2_000_000),
            label: "generated 10M".into(),
            configs: both(DEFAULT_BATCH),
            runs: 1,
            big: true,
            chart: None,
        },
        Group {
            id: "gen-10m-50",
            source: gen(50, 200_000),
            label: "generated 10M".into(),
            configs: both(DEFAULT_BATCH),
            runs: 1,
            big: true,
            chart: None,
        },
    ]
}

/// The outcome of one configuration.
#[derive(Debug)]
enum Status {
    /// Every run passed.
    Pass,
    /// At least one run failed: the reasons.
    Failed(Vec<String>),
    /// Not run: why.
    Skipped(String),
}

/// One configuration's runs, summarized.
struct Summary {
    /// [`Group::id`].
    group: &'static str,
    /// [`Group::label`].
    label: String,
    /// Agencies (clients).
    agencies: usize,
    /// Bets sent per run.
    bets: u64,
    /// The sync setting.
    sync: Sync,
    /// The batch size.
    batch: u16,
    /// The runs done.
    runs: Vec<RunResult>,
    /// Pass, failed or skipped.
    status: Status,
}

/// The median of some numbers.
fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

impl Summary {
    /// Median end-to-end seconds over the runs that measured one.
    fn e2e(&self) -> Option<f64> {
        median(
            self.runs
                .iter()
                .filter_map(|r| r.e2e.map(|d| d.as_secs_f64()))
                .collect(),
        )
    }

    /// Fastest and slowest end-to-end seconds.
    fn e2e_range(&self) -> Option<(f64, f64)> {
        let times = self
            .runs
            .iter()
            .filter_map(|r| r.e2e.map(|d| d.as_secs_f64()));
        let (lo, hi) = times.fold((f64::INFINITY, 0.0f64), |(lo, hi), t| {
            (lo.min(t), hi.max(t))
        });
        (lo <= hi).then_some((lo, hi))
    }

    /// Bets per second of the slowest and of the fastest run.
    fn rate_range(&self) -> Option<(f64, f64)> {
        let (fast, slow) = self.e2e_range().filter(|(fast, _)| *fast > 0.0)?;
        Some((self.bets as f64 / slow, self.bets as f64 / fast))
    }

    /// Bets per second at the median time.
    fn rate(&self) -> Option<f64> {
        self.e2e()
            .filter(|s| *s > 0.0)
            .map(|s| self.bets as f64 / s)
    }

    /// Bets per second if the configuration passed.
    fn passed_rate(&self) -> Option<f64> {
        matches!(self.status, Status::Pass)
            .then(|| self.rate())
            .flatten()
    }

    /// Median draw time.
    fn draw_ms(&self) -> Option<f64> {
        median(
            self.runs
                .iter()
                .filter_map(|r| r.draw_us.map(|us| us as f64 / 1000.0))
                .collect(),
        )
    }

    /// Maximum of an RSS field over the runs.
    fn rss(&self, pick: fn(&RunResult) -> Option<u64>) -> Option<u64> {
        self.runs.iter().filter_map(pick).max()
    }

    /// The table's result cell.
    fn status_cell(&self) -> String {
        match &self.status {
            Status::Pass => format!("PASS ({}/{})", self.runs.len(), self.runs.len()),
            Status::Failed(_) => {
                let failed = self.runs.iter().filter(|r| !r.failures.is_empty()).count();
                format!("**FAILED** ({failed}/{})", self.runs.len())
            }
            Status::Skipped(_) => "SKIPPED".into(),
        }
    }
}

/// Free bytes for unprivileged users on the file system holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    Some((stat.blocks_available() as u64).saturating_mul(stat.fragment_size() as u64))
}

/// Runs every group; `Err(Abort)` only on interruption.
fn run_plan(
    ctx: &Ctx,
    groups: &[Group],
    course_dir: &Path,
    scratch: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Summary>, RunError> {
    let total: usize = groups.iter().map(|g| g.configs.len() * g.runs).sum();
    let mut done = 0;
    let mut summaries = Vec::new();
    for group in groups {
        ctx.check()?;
        let data_dir = scratch.join(format!("data-{}", group.id));
        let skip = |reason: String, summaries: &mut Vec<Summary>| {
            for &(sync, batch) in &group.configs {
                summaries.push(Summary {
                    group: group.id,
                    label: group.label.clone(),
                    agencies: match group.source {
                        Source::Generated { agencies, .. } => agencies as usize,
                        _ => 5,
                    },
                    bets: match group.source {
                        Source::Generated {
                            agencies,
                            per_agency,
                        } => u64::from(agencies) * per_agency,
                        _ => 0,
                    },
                    sync,
                    batch,
                    runs: Vec::new(),
                    status: Status::Skipped(reason.clone()),
                });
            }
        };
        if group.big {
            match free_bytes(scratch) {
                Some(free) if free >= BIG_FREE_BYTES => {}
                free => {
                    let reason = format!(
                        "{}: skipped, {} free on the scratch disk, {} GB needed",
                        group.id,
                        free.map_or("unknown".into(), |b| format!("{:.1} GB", b as f64 / 1e9)),
                        BIG_FREE_BYTES / 1_000_000_000
                    );
                    eprintln!("bench: {reason}");
                    skip(reason, &mut summaries);
                    done += group.configs.len() * group.runs;
                    continue;
                }
            }
        }
        eprintln!("bench: preparing data {} ({})", group.id, group.label);
        let prepared = prepare(ctx, &group.source, course_dir, &data_dir);
        let data = match prepared {
            Ok(data) => data,
            Err(RunError::Abort) => {
                remove_dir(&data_dir);
                return Err(RunError::Abort);
            }
            Err(RunError::Fail(reason)) => {
                remove_dir(&data_dir);
                let reason = format!("{}: data preparation failed: {reason}", group.id);
                eprintln!("bench: {reason}");
                notes.push(reason.clone());
                let first = summaries.len();
                skip(reason.clone(), &mut summaries);
                for s in &mut summaries[first..] {
                    s.status = Status::Failed(vec![reason.clone()]);
                }
                done += group.configs.len() * group.runs;
                continue;
            }
        };
        let first = summaries.len();
        for &(sync, batch) in &group.configs {
            summaries.push(Summary {
                group: group.id,
                label: group.label.clone(),
                agencies: data.files.len(),
                bets: data.bets,
                sync,
                batch,
                runs: Vec::new(),
                status: Status::Pass,
            });
        }
        // Repetition-major order, so slow drift spreads over all configurations alike.
        for rep in 0..group.runs {
            for (k, &(sync, batch)) in group.configs.iter().enumerate() {
                done += 1;
                let run_dir = scratch.join("run");
                let result = match run_once(ctx, &data, sync, batch, &run_dir) {
                    Ok(result) => result,
                    Err(abort) => {
                        remove_dir(&data_dir);
                        return Err(abort);
                    }
                };
                eprintln!(
                    "bench: [{done}/{total}] {} {} agencies, {} bets, {}, batch {batch}, run {}/{}: {}",
                    group.id,
                    data.files.len(),
                    data.bets,
                    sync.name(),
                    rep + 1,
                    group.runs,
                    match (result.failures.is_empty(), result.e2e) {
                        (true, Some(d)) => format!(
                            "{:.3} s, {} bets/s",
                            d.as_secs_f64(),
                            thousands((data.bets as f64 / d.as_secs_f64().max(1e-9)) as u64)
                        ),
                        _ => format!("FAILED: {}", result.failures.join("; ")),
                    }
                );
                summaries[first + k].runs.push(result);
            }
        }
        for summary in &mut summaries[first..] {
            let reasons: Vec<String> = summary
                .runs
                .iter()
                .flat_map(|r| r.failures.iter().cloned())
                .collect();
            if !reasons.is_empty() {
                summary.status = Status::Failed(reasons);
            }
        }
        remove_dir(&data_dir);
    }
    Ok(summaries)
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// KiB as MiB with one decimal, or a dash.
fn mib(kb: Option<u64>) -> String {
    kb.map_or("—".into(), |kb| format!("{:.1}", kb as f64 / 1024.0))
}

/// The results table in Markdown.
fn table(summaries: &[Summary]) -> String {
    let mut out = String::new();
    out.push_str(
        "| Data | Agencies | Bets | Sync | Batch | End to end (s) | Range (s) | Bets/s | Draw (ms) \
         | RSS parent | RSS session | RSS coordinator | RSS client | Result |\n",
    );
    out.push_str("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for s in summaries {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.label,
            s.agencies,
            if s.bets > 0 {
                thousands(s.bets)
            } else {
                "—".into()
            },
            s.sync.name(),
            s.batch,
            s.e2e().map_or("—".into(), |t| format!("{t:.3}")),
            match s.e2e_range() {
                Some((lo, hi)) if s.runs.len() > 1 => format!("{lo:.3}–{hi:.3}"),
                _ => "—".into(),
            },
            s.rate().map_or("—".into(), |r| thousands(r as u64)),
            s.draw_ms().map_or("—".into(), |m| format!("{m:.2}")),
            mib(s.rss(|r| r.rss_server)),
            mib(s.rss(|r| r.rss_session)),
            mib(s.rss(|r| r.rss_coordinator)),
            mib(s.rss(|r| r.rss_client)),
            s.status_cell(),
        );
    }
    out
}

/// Verdict of one target.
struct Target {
    /// PASS, MISS or SKIPPED.
    verdict: &'static str,
    /// What was asked and what was measured.
    text: String,
}

/// Finds a configuration's summary.
fn find<'a>(summaries: &'a [Summary], group: &str, sync: Sync, batch: u16) -> Option<&'a Summary> {
    summaries
        .iter()
        .find(|s| s.group == group && s.sync == sync && s.batch == batch)
}

/// Whether a configuration actually ran.
fn ran(summary: &&Summary) -> bool {
    !matches!(summary.status, Status::Skipped(_))
}

/// Evaluates the issue's targets.
fn targets(summaries: &[Summary]) -> Vec<Target> {
    let mut out = Vec::new();
    let rate_target = |out: &mut Vec<Target>, what: &str, min: f64, cands: Vec<&Summary>| {
        if cands.is_empty() {
            out.push(Target {
                verdict: "SKIPPED",
                text: format!("{what}: not run"),
            });
            return;
        }
        let failed = cands.iter().any(|s| !matches!(s.status, Status::Pass));
        let worst = cands
            .iter()
            .filter_map(|s| s.rate())
            .fold(f64::INFINITY, f64::min);
        let measured: Vec<String> = cands
            .iter()
            .map(|s| {
                format!(
                    "{} ({} bets): {}",
                    s.label,
                    thousands(s.bets),
                    s.passed_rate().map_or("FAILED".into(), |r| format!(
                        "{} bets/s",
                        thousands(r as u64)
                    ))
                )
            })
            .collect();
        out.push(Target {
            verdict: if !failed && worst >= min {
                "PASS"
            } else {
                "MISS"
            },
            text: format!("{what}: {}", measured.join("; ")),
        });
    };

    let x20: Vec<&Summary> = find(summaries, "course-x20", Sync::Durable, DEFAULT_BATCH)
        .into_iter()
        .filter(ran)
        .collect();
    rate_target(
        &mut out,
        "≥ 2,000,000 bets/s, 5 agencies, course dataset ×20, durable, batch 120",
        2_000_000.0,
        x20,
    );

    let fifty: Vec<&Summary> = summaries
        .iter()
        .filter(|s| {
            s.group.starts_with("gen-")
                && s.agencies == 50
                && s.sync == Sync::Durable
                && s.batch == DEFAULT_BATCH
        })
        .filter(ran)
        .collect();
    rate_target(
        &mut out,
        "≥ 1,000,000 bets/s, 50 agencies, generated data, durable, batch 120",
        1_000_000.0,
        fifty,
    );

    match find(summaries, "course", Sync::Durable, DEFAULT_BATCH).filter(ran) {
        None => out.push(Target {
            verdict: "SKIPPED",
            text: "course dataset end to end ≤ 0.25 s: not run".into(),
        }),
        Some(s) => {
            let e2e = s.e2e();
            let ok = matches!(s.status, Status::Pass) && e2e.is_some_and(|t| t <= 0.25);
            out.push(Target {
                verdict: if ok { "PASS" } else { "MISS" },
                text: format!(
                    "course dataset end to end ≤ 0.25 s ({}, durable, batch 120): {}",
                    s.label,
                    match (&s.status, e2e) {
                        (Status::Pass, Some(t)) => format!("{t:.3} s"),
                        _ => "FAILED".into(),
                    }
                ),
            });
        }
    }

    let ran_any: Vec<&Summary> = summaries.iter().filter(ran).collect();
    if ran_any.is_empty() {
        out.push(Target {
            verdict: "SKIPPED",
            text: "session child and client < 8 MiB RSS: nothing ran".into(),
        });
    } else {
        let session = ran_any
            .iter()
            .filter_map(|s| s.rss(|r| r.rss_session))
            .max();
        let client = ran_any.iter().filter_map(|s| s.rss(|r| r.rss_client)).max();
        let ok = |v: Option<u64>| v.is_some_and(|kb| kb < 8 * MIB_KB);
        out.push(Target {
            verdict: if ok(session) && ok(client) {
                "PASS"
            } else {
                "MISS"
            },
            text: format!(
                "session child and client < 8 MiB RSS, every size: largest session {} MiB, largest client {} MiB",
                mib(session),
                mib(client)
            ),
        });
    }

    let big: Vec<&Summary> = summaries
        .iter()
        .filter(|s| s.group.starts_with("gen-10m"))
        .filter(ran)
        .collect();
    if big.is_empty() {
        out.push(Target {
            verdict: "SKIPPED",
            text: "coordinator < 16 MiB at 10 million bets: not run".into(),
        });
    } else {
        let coord = big
            .iter()
            .filter_map(|s| s.rss(|r| r.rss_coordinator))
            .max();
        out.push(Target {
            verdict: if coord.is_some_and(|kb| kb < 16 * MIB_KB) {
                "PASS"
            } else {
                "MISS"
            },
            text: format!(
                "coordinator < 16 MiB at 10 million bets: largest {} MiB",
                mib(coord)
            ),
        });
    }
    out
}

/// Facts about the machine.
struct Machine {
    /// CPUs available.
    nproc: usize,
    /// `model name` from /proc/cpuinfo.
    cpu: String,
    /// MemTotal.
    memory: String,
    /// Kernel release.
    kernel: String,
    /// UTC date and time.
    date: String,
    /// The commit measured.
    commit: String,
    /// Load averages (1, 5, 15 min) when the bench started.
    load_start: String,
    /// Load averages when it ended.
    load_end: String,
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The current UTC date and time, to the minute.
fn utc_now() -> String {
    let stamp = tp0::logging::timestamp(SystemTime::now());
    format!("{} UTC", stamp.get(..16).unwrap_or(&stamp))
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
    /// Reads /proc and git; `load_start` is [`load_average`] taken when the bench began.
    fn probe(root: &Path, load_start: String) -> Machine {
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
                let dirty = git(root, &["status", "--porcelain", "--untracked-files=no"])
                    .is_some_and(|s| !s.is_empty());
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

/// The whole Markdown report.
fn report(
    summaries: &[Summary],
    targets: &[Target],
    machine: &Machine,
    quick: bool,
    elapsed: Duration,
    notes: &[String],
) -> String {
    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str("Generated by `make bench` (`src/bin/bench.rs`); do not edit by hand.\n\n");
    if quick {
        md.push_str(
            "**Quick smoke run (`--quick`): small data, one run each; not the benchmark.**\n\n",
        );
    }
    md.push_str(
        "The real `server` and one real `client` per agency on 127.0.0.1. End to end = from the first \
         client's start to the last client's exit (upload, draw and winners query included); bets/s = \
         bets / end to end; draw = the coordinator's `draw_scan` time; RSS = peak resident set (MiB) \
         logged by each process at exit — the parent server, the largest session child, the \
         coordinator, the largest client. ",
    );
    let _ = writeln!(
        md,
        "{}\n",
        if quick {
            "Each configuration ran once."
        } else {
            "Each configuration ran 3 times (the 10-million-bet ones once); times are medians \
             (Range: fastest and slowest run), RSS the maximum over the runs."
        }
    );
    md.push_str("## Results\n\n");
    md.push_str(&table(summaries));
    md.push_str(
        "\n![Throughput against agencies and batch size, durable vs relaxed](benchmarks.png)\n\n",
    );
    md.push_str("## Targets\n\n");
    for t in targets {
        let _ = writeln!(md, "- **{}** — {}", t.verdict, t.text);
    }
    md.push_str("\n## Correctness\n\n");
    md.push_str(
        "Every run is checked: all clients exit 0; each client's `cant_ganadores` equals its \
         agency's winners (rows with number 7574, counted from the data or by `gendata`); the \
         coordinator's `sorteo` total equals their sum; the server exits 0 after SIGTERM; the bets \
         file has exactly one row per bet. A run that fails a check or times out (it is killed) \
         makes its configuration FAILED.\n\n",
    );
    let failures: Vec<&Summary> = summaries
        .iter()
        .filter(|s| matches!(s.status, Status::Failed(_)))
        .collect();
    if failures.is_empty() {
        md.push_str("All runs passed.\n\n");
    } else {
        for s in failures {
            if let Status::Failed(reasons) = &s.status {
                let _ = writeln!(
                    md,
                    "- FAILED: {} / {} agencies / {} / batch {}: {}",
                    s.label,
                    s.agencies,
                    s.sync.name(),
                    s.batch,
                    reasons.join("; ")
                );
            }
        }
        md.push('\n');
    }
    for s in summaries {
        if let Status::Skipped(reason) = &s.status {
            let _ = writeln!(
                md,
                "- SKIPPED: {} / {} / batch {}: {reason}",
                s.label,
                s.sync.name(),
                s.batch
            );
        }
    }
    if !notes.is_empty() {
        md.push_str("## Notes\n\n");
        for note in notes {
            let _ = writeln!(md, "- {note}");
        }
        md.push('\n');
    }
    md.push_str("## Machine\n\n");
    let _ = writeln!(md, "- CPUs (nproc): {}", machine.nproc);
    let _ = writeln!(md, "- CPU: {}", machine.cpu);
    let _ = writeln!(md, "- Memory: {}", machine.memory);
    let _ = writeln!(md, "- Kernel: {}", machine.kernel);
    let _ = writeln!(md, "- Date: {}", machine.date);
    let _ = writeln!(md, "- Commit: {}", machine.commit);
    let _ = writeln!(
        md,
        "- Load average (1/5/15 min): {} at the start, {} at the end",
        machine.load_start, machine.load_end
    );
    let _ = writeln!(md, "- Bench wall time: {:.0} s", elapsed.as_secs_f64());
    md.push_str("\n## Command\n\n```sh\n");
    if quick {
        md.push_str("cargo build --release --bins && target/release/bench --quick\n");
    } else {
        md.push_str("make bench   # = cargo build --release --bins && target/release/bench\n");
    }
    md.push_str("```\n");
    md
}

// ---------------------------------------------------------------------------------------------
// Chart: rasterizer, 5x7 font, PNG encoder
// ---------------------------------------------------------------------------------------------

/// An RGB colour.
type Rgb = [u8; 3];

/// White background.
const WHITE: Rgb = [255, 255, 255];
/// Axes and text.
const INK: Rgb = [30, 30, 30];
/// Grid lines.
const GRID: Rgb = [225, 225, 225];
/// Durable bars.
const BLUE: Rgb = [31, 119, 180];
/// Relaxed bars.
const ORANGE: Rgb = [255, 127, 14];
/// Target lines and failures.
const RED: Rgb = [214, 39, 40];
/// Secondary text.
const MUTED: Rgb = [110, 110, 110];

/// An RGB raster.
struct Canvas {
    /// Width in pixels.
    w: usize,
    /// Height in pixels.
    h: usize,
    /// Row-major RGB bytes.
    px: Vec<u8>,
}

/// The 5x7 glyph of a character (rows top to bottom, bit 4 = leftmost column); lower case is
/// drawn as upper case, unknown characters as `?`.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' | '×' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        ' ' => [0; 7],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '/' => [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
    }
}

impl Canvas {
    /// A white canvas.
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            px: WHITE.repeat(w * h),
        }
    }

    /// Sets one pixel; outside the canvas is ignored.
    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let i = (y as usize * self.w + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    /// Fills a rectangle.
    fn rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: Rgb) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, c);
            }
        }
    }

    /// A one-pixel line (Bresenham); `dash` > 0 draws `dash` pixels on, `dash` off.
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: Rgb, dash: i64) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err, mut step) = (x0, y0, dx + dy, 0i64);
        loop {
            if dash == 0 || (step / dash) % 2 == 0 {
                self.set(x, y, c);
            }
            step += 1;
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// A line `thick` pixels wide (horizontal or vertical thickening).
    fn thick_line(
        &mut self,
        (x0, y0): (i64, i64),
        (x1, y1): (i64, i64),
        c: Rgb,
        dash: i64,
        thick: i64,
    ) {
        for t in 0..thick {
            if (y1 - y0).abs() >= (x1 - x0).abs() {
                self.line((x0 + t, y0), (x1 + t, y1), c, dash);
            } else {
                self.line((x0, y0 + t), (x1, y1 + t), c, dash);
            }
        }
    }

    /// Width of `text` at `scale`.
    fn text_width(text: &str, scale: i64) -> i64 {
        (text.chars().count() as i64 * 6 - 1).max(0) * scale
    }

    /// Draws `text` with its top-left corner at (x, y).
    fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, c: Rgb) {
        for (i, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            let gx = x + i as i64 * 6 * scale;
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.rect(gx + col * scale, y + r as i64 * scale, scale, scale, c);
                    }
                }
            }
        }
    }

    /// Draws `text` centred on `cx`.
    fn text_centered(&mut self, cx: i64, y: i64, text: &str, scale: i64, c: Rgb) {
        self.text(cx - Self::text_width(text, scale) / 2, y, text, scale, c);
    }

    /// Draws `text` ending at `right`.
    fn text_right(&mut self, right: i64, y: i64, text: &str, scale: i64, c: Rgb) {
        self.text(right - Self::text_width(text, scale), y, text, scale, c);
    }

    /// Encodes the canvas as a PNG.
    fn png(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity((self.w * 3 + 1) * self.h);
        for row in self.px.chunks(self.w * 3) {
            raw.push(0); // filter: none
            raw.extend_from_slice(row);
        }
        encode_png(self.w as u32, self.h as u32, &raw)
    }
}

/// The CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) PNG chunks carry.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut table = [0u32; 256];
    for (n, entry) in table.iter_mut().enumerate() {
        let mut c = n as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *entry = c;
    }
    let mut crc = 0xFFFF_FFFFu32;
    for part in parts {
        for &b in *part {
            crc = table[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
        }
    }
    crc ^ 0xFFFF_FFFF
}

/// The Adler-32 checksum that ends a zlib stream.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that cannot overflow u32 between reductions.
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65_535 * 5 + 16);
    out.extend_from_slice(&[0x78, 0x01]); // deflate, 32 KiB window, no dictionary; 0x7801 % 31 == 0
    let mut blocks = data.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xFF, 0xFF]);
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        out.push(u8::from(last)); // BFINAL, BTYPE = 00 (stored)
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// A PNG (8-bit RGB, no interlace) of already-filtered scanlines.
fn encode_png(width: u32, height: u32, raw: &[u8]) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // depth 8, RGB, deflate, adaptive filters, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A bets/s value as a short label: `1.6M`, `850K`.
fn short_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}K", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// An axis tick label, with as many decimals as the step needs.
fn tick_label(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let (unit, suffix) = if step >= 1e5 {
        (1e6, "M")
    } else if step >= 100.0 {
        (1e3, "K")
    } else {
        (1.0, "")
    };
    let decimals = if (step / unit).fract().abs() < 1e-9 {
        0
    } else if (step * 10.0 / unit).fract().abs() < 1e-9 {
        1
    } else {
        2
    };
    format!("{:.*}{suffix}", decimals, v / unit)
}

/// A round tick step giving at most about 6 ticks up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// A bar: its value, or why it has none.
#[derive(Clone, Debug)]
enum Bar {
    /// Median bets/s, and the slowest and fastest run's.
    Value(f64, f64, f64),
    /// The configuration failed.
    Failed,
    /// Not run.
    Missing,
}

/// One panel of grouped bars.
struct Panel {
    /// Title above the plot.
    title: String,
    /// Label under the x axis.
    x_title: String,
    /// Category label and the [durable, relaxed] bars.
    categories: Vec<(String, [Bar; 2])>,
    /// A dashed target line and its label.
    target: Option<(f64, String)>,
}

/// Draws one panel in the box (x, y, w, h).
fn draw_panel(cv: &mut Canvas, panel: &Panel, x: i64, y: i64, w: i64, h: i64) {
    cv.text_centered(x + w / 2, y, &panel.title, 2, INK);
    if let Some((_, caption)) = &panel.target {
        // The target's caption goes under the title, where it cannot cover a bar label.
        let width = 44 + Canvas::text_width(caption, 2);
        let cx = x + w / 2 - width / 2;
        cv.thick_line((cx, y + 30), (cx + 34, y + 30), RED, 6, 2);
        cv.text(cx + 44, y + 24, caption, 2, RED);
    }
    let (left, right, top, bottom) = (x + 78, x + w - 10, y + 80, y + h - 56);
    let values = panel.categories.iter().flat_map(|(_, bars)| bars.iter());
    let mut max = values
        .filter_map(|b| match b {
            Bar::Value(_, _, hi) => Some(*hi),
            _ => None,
        })
        .fold(0.0, f64::max);
    if let Some((t, _)) = &panel.target {
        max = max.max(*t);
    }
    let max = (max * 1.12).max(1.0);
    let step = nice_step(max);
    let ymax = (max / step).ceil() * step;
    let to_y = |v: f64| bottom - ((v / ymax) * (bottom - top) as f64).round() as i64;

    let mut tick = 0.0;
    while tick <= ymax + step * 1e-6 {
        let ty = to_y(tick);
        cv.line((left, ty), (right, ty), GRID, 0);
        cv.line((left - 5, ty), (left, ty), INK, 0);
        cv.text_right(left - 9, ty - 7, &tick_label(tick, step), 2, INK);
        tick += step;
    }
    cv.text(x + 4, top - 26, "BETS/S", 2, MUTED);
    cv.thick_line((left, top), (left, bottom), INK, 0, 2);
    cv.thick_line((left, bottom), (right, bottom), INK, 0, 2);

    let n = panel.categories.len().max(1) as i64;
    let slot = (right - left) / n;
    let bar_w = (slot * 36 / 100).min(64);
    for (i, (label, bars)) in panel.categories.iter().enumerate() {
        let cx = left + slot * i as i64 + slot / 2;
        for (k, bar) in bars.iter().enumerate() {
            let bx = if k == 0 { cx - bar_w - 3 } else { cx + 3 };
            let colour = if k == 0 { BLUE } else { ORANGE };
            let mid = bx + bar_w / 2;
            match bar {
                Bar::Value(v, lo, hi) => {
                    let ty = to_y(*v);
                    cv.rect(bx, ty, bar_w, bottom - ty, colour);
                    // Whisker: slowest to fastest run.
                    let (wlo, whi) = (to_y(*lo), to_y(*hi));
                    if wlo - whi >= 2 {
                        cv.thick_line((mid - 1, whi), (mid - 1, wlo), INK, 0, 2);
                        cv.thick_line((mid - 6, whi), (mid + 6, whi), INK, 0, 2);
                        cv.thick_line((mid - 6, wlo), (mid + 6, wlo), INK, 0, 2);
                    }
                    let text = short_rate(*v);
                    let scale = if Canvas::text_width(&text, 2) <= slot / 2 - 4 {
                        2
                    } else {
                        1
                    };
                    cv.text_centered(mid, ty.min(whi) - 6 - 7 * scale, &text, scale, INK);
                }
                Bar::Failed => cv.text_centered(mid, bottom - 20, "FAIL", 1, RED),
                Bar::Missing => cv.text_centered(mid, bottom - 20, "N/A", 1, MUTED),
            }
        }
        cv.text_centered(cx, bottom + 10, label, 2, INK);
    }
    if let Some((t, _)) = &panel.target {
        let ty = to_y(*t);
        cv.thick_line((left, ty), (right, ty), RED, 6, 2);
    }
    cv.text_centered((left + right) / 2, bottom + 34, &panel.x_title, 2, MUTED);
}

/// The bar of a configuration.
fn bar_of(summary: Option<&Summary>) -> Bar {
    match summary {
        None => Bar::Missing,
        Some(s) => match (&s.status, s.rate(), s.rate_range()) {
            (Status::Pass, Some(r), Some((lo, hi))) => Bar::Value(r, lo, hi),
            (Status::Skipped(_), _, _) => Bar::Missing,
            _ => Bar::Failed,
        },
    }
}

/// The two panels from the results.
fn panels(groups: &[Group], summaries: &[Summary]) -> (Panel, Panel) {
    let mut agencies = Vec::new();
    let mut agencies_data = String::new();
    for g in groups
        .iter()
        .filter(|g| g.chart == Some(ChartRole::Agencies))
    {
        let of = |sync| find(summaries, g.id, sync, DEFAULT_BATCH);
        let n = of(Sync::Durable).map_or(0, |s| s.agencies);
        agencies.push((
            n.to_string(),
            [bar_of(of(Sync::Durable)), bar_of(of(Sync::Relaxed))],
        ));
        agencies_data.clone_from(&g.label);
    }
    let mut batches = Vec::new();
    let mut batch_data = String::new();
    for g in groups
        .iter()
        .filter(|g| g.chart == Some(ChartRole::Batches))
    {
        let mut sizes: Vec<u16> = g.configs.iter().map(|(_, b)| *b).collect();
        sizes.dedup();
        for b in sizes {
            batches.push((
                b.to_string(),
                [
                    bar_of(find(summaries, g.id, Sync::Durable, b)),
                    bar_of(find(summaries, g.id, Sync::Relaxed, b)),
                ],
            ));
        }
        let n = summaries
            .iter()
            .find(|s| s.group == g.id)
            .map_or(0, |s| s.agencies);
        batch_data = format!("{}, {n} AGENCIES", g.label);
    }
    let clean = |s: &str| {
        s.replace(
            " (generated stand-in: course dataset absent)",
            " (GENERATED)",
        )
    };
    (
        Panel {
            title: format!(
                "VS AGENCIES: {}, BATCH {DEFAULT_BATCH}",
                clean(&agencies_data)
            ),
            x_title: "AGENCIES (CLIENTS)".into(),
            categories: agencies,
            target: Some((1e6, "TARGET: 1M BETS/S WITH 50 AGENCIES, DURABLE".into())),
        },
        Panel {
            title: format!("VS BATCH SIZE: {}", clean(&batch_data)),
            x_title: "BATCH SIZE (BETS PER BATCH)".into(),
            categories: batches,
            target: Some((2e6, "TARGET: 2M BETS/S, COURSE X20, DURABLE, 120".into())),
        },
    )
}

/// Renders the chart.
fn chart(groups: &[Group], summaries: &[Summary], quick: bool) -> Canvas {
    let (w, h) = (1200i64, 600i64);
    let mut cv = Canvas::new(w as usize, h as usize);
    let title = if quick {
        "TP0 THROUGHPUT (BETS/S) - QUICK SMOKE RUN"
    } else {
        "TP0 END-TO-END THROUGHPUT (BETS/S), MEDIAN OF 3 RUNS"
    };
    cv.text_centered(w / 2, 14, title, 3, INK);
    let (a, b) = panels(groups, summaries);
    draw_panel(&mut cv, &a, 10, 62, w / 2 - 20, h - 120);
    draw_panel(&mut cv, &b, w / 2 + 10, 62, w / 2 - 20, h - 120);
    // Legend.
    let ly = h - 40;
    let items: [(Rgb, &str); 2] = [
        (BLUE, "DURABLE (SYNC=TRUE, FDATASYNC)"),
        (ORANGE, "RELAXED (SYNC=FALSE)"),
    ];
    let mut lx = 150;
    for (colour, label) in items {
        cv.rect(lx, ly, 18, 18, colour);
        cv.text(lx + 26, ly + 2, label, 2, INK);
        lx += 26 + Canvas::text_width(label, 2) + 40;
    }
    cv.thick_line((lx, ly + 9), (lx + 36, ly + 9), RED, 6, 2);
    cv.text(lx + 44, ly + 2, "TARGET", 2, INK);
    cv.text_right(
        w - 8,
        h - 12,
        "END TO END: FIRST CLIENT START TO LAST CLIENT EXIT. WHISKERS: SLOWEST TO FASTEST RUN.",
        1,
        MUTED,
    );
    cv
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

/// Command-line options.
struct Options {
    /// Smoke-test subset.
    quick: bool,
    /// Where the report goes, if not the default.
    out: Option<PathBuf>,
}

/// Parses the command line.
fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--out" => {
                options.out = Some(PathBuf::from(args.next().ok_or("--out needs a directory")?))
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

/// Writes to stdout, ignoring a closed pipe.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("bench: {msg}");
            }
            eprintln!("usage: bench [--quick] [--out DIR]");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(RunError::Abort) => {
            eprintln!("bench: interrupted; every process stopped, scratch data removed");
            ExitCode::from(130)
        }
        Err(RunError::Fail(msg)) => {
            eprintln!("bench: {msg}");
            ExitCode::from(1)
        }
    }
}

/// The whole benchmark; `Ok(false)` if some run failed.
fn run(options: &Options) -> Result<bool, RunError> {
    let started = Instant::now();
    let load_start = load_average();
    let exe = std::env::current_exe().map_err(fail("locate the bench binary"))?;
    let bins = exe
        .parent()
        .ok_or_else(|| RunError::Fail("the bench binary has no directory".into()))?
        .to_path_buf();
    for name in ["server", "client", "gendata"] {
        if !bins.join(name).is_file() {
            return Err(RunError::Fail(format!(
                "{} not found: run `cargo build --release --bins` first",
                bins.join(name).display()
            )));
        }
    }
    let root = bins
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .map_or_else(std::env::current_dir, Ok)
        .map_err(fail("current directory"))?;
    let target_dir = bins.parent().unwrap_or(&bins).to_path_buf();
    let scratch = target_dir.join("bench-data");
    let out_dir = options.out.clone().unwrap_or_else(|| {
        if options.quick {
            target_dir.join("bench-quick")
        } else {
            root.join("docs")
        }
    });
    let course_dir = root.join("..").join("shared").join("dataset");

    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .map_err(fail(format!("install handler for signal {signal}")))?;
    }
    let ctx = Ctx { bins, interrupted };

    remove_dir(&scratch);
    fs::create_dir_all(&scratch).map_err(fail(format!("create {}", scratch.display())))?;
    let _scratch_guard = ScratchGuard(scratch.clone());

    let course_present = course_files(&course_dir).is_some();
    let mut notes = Vec::new();
    if course_present {
        notes.push(format!(
            "Course dataset read from `{}` (never copied into the repo; the ×{COURSE_REPEAT} files \
             are built in scratch space).",
            "../shared/dataset"
        ));
    } else {
        notes.push(format!(
            "The course dataset was not found at {}: the course scenarios use generated data of \
             the same size (5 agencies, 78,700 and 1,573,940 bets) instead.",
            course_dir.display()
        ));
    }
    let groups = plan(options.quick, course_present);
    let summaries = run_plan(&ctx, &groups, &course_dir, &scratch, &mut notes)?;

    let floor = summaries
        .iter()
        .flat_map(|s| s.runs.iter().filter_map(|r| r.floor))
        .max();
    notes.push(format!(
        "Linux carries a process's peak RSS across fork and exec, so a child's `ru_maxrss` is at \
         least its launcher's peak. The bench resets its own peak (`/proc/self/clear_refs`) before \
         spawning; the floor left was at most {} MiB, so RSS values at that level say only \
         \"no more than this\". Session children and the coordinator are forked by the server and \
         inherit its peak instead.",
        mib(floor)
    ));
    notes.push(
        "Draw (ms) is the coordinator's own `draw_scan` time (logged in µs): the coordinator reads \
         the bets file as it grows, so at the barrier it scans only the tail."
            .into(),
    );
    let machine = Machine::probe(&root, load_start);
    let targets = targets(&summaries);
    let md = report(
        &summaries,
        &targets,
        &machine,
        options.quick,
        started.elapsed(),
        &notes,
    );
    let png = chart(&groups, &summaries, options.quick).png();
    fs::create_dir_all(&out_dir).map_err(fail(format!("create {}", out_dir.display())))?;
    let md_path = out_dir.join("benchmarks.md");
    let png_path = out_dir.join("benchmarks.png");
    fs::write(&md_path, md).map_err(fail(format!("write {}", md_path.display())))?;
    fs::write(&png_path, png).map_err(fail(format!("write {}", png_path.display())))?;

    let mut text = table(&summaries);
    text.push('\n');
    for t in &targets {
        let _ = writeln!(text, "{:<7} {}", t.verdict, t.text);
    }
    let _ = writeln!(
        text,
        "\nwrote {} and {} in {:.0} s",
        md_path.display(),
        png_path.display(),
        started.elapsed().as_secs_f64()
    );
    say(&text);
    Ok(!summaries
        .iter()
        .any(|s| matches!(s.status, Status::Failed(_))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"IEND"]), 0xAE42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(&[]), 1);
    }

    #[test]
    fn stored_zlib_round_trips() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let z = zlib_stored(&data);
        assert_eq!(u16::from_be_bytes([z[0], z[1]]) % 31, 0);
        let (mut pos, mut out) = (2, Vec::new());
        loop {
            let last = z[pos] & 1 == 1;
            let len = u16::from_le_bytes([z[pos + 1], z[pos + 2]]) as usize;
            let nlen = u16::from_le_bytes([z[pos + 3], z[pos + 4]]);
            assert_eq!(nlen, !(len as u16));
            out.extend_from_slice(&z[pos + 5..pos + 5 + len]);
            pos += 5 + len;
            if last {
                break;
            }
        }
        assert_eq!(out, data);
        assert_eq!(&z[pos..], &adler32(&data).to_be_bytes());
    }

    #[test]
    fn png_has_signature_and_chunks() {
        let png = Canvas::new(3, 2).png();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    }

    #[test]
    fn repeat_file_adds_missing_line_breaks() {
        let dir = std::env::temp_dir().join(format!("tp0-bench-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_default();
        let (src, out) = (dir.join("in.csv"), dir.join("out.csv"));
        for (text, want) in [
            ("a,1\r\nb,2", "a,1\r\nb,2\r\na,1\r\nb,2\r\n"),
            ("a,1\r\n", "a,1\r\na,1\r\n"),
            ("", ""),
        ] {
            fs::write(&src, text).unwrap_or_default();
            assert!(repeat_file(&src, &out, 2).is_ok());
            assert_eq!(fs::read_to_string(&out).unwrap_or_default(), want);
        }
        assert!(matches!(scan_csv(&out), Ok((0, 0))));
        fs::write(&src, "x,7574\r\ny,12\r\n\r\nz, 7574 \r\n").unwrap_or_default();
        assert!(matches!(scan_csv(&src), Ok((3, 2))));
        remove_dir(&dir);
    }

    #[test]
    fn helpers() {
        assert_eq!(thousands(1_573_940), "1,573,940");
        assert_eq!(thousands(12), "12");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![]), None);
        assert!(utc_now().ends_with(" UTC") && utc_now().len() == 20);
        assert_eq!(tick_label(1_500_000.0, 500_000.0), "1.5M");
        assert_eq!(tick_label(2_000_000.0, 1_000_000.0), "2M");
        assert_eq!(nice_step(2_400_000.0), 500_000.0);
        let f = fields(
            "2026-01-01 00:00:00 DEBUG    action: draw_scan | result: success | bets: 9 | us: 3",
        )
        .unwrap_or_default();
        assert_eq!(num_field(&f, "us"), Some(3));
        assert_eq!(field(&f, "action"), Some("draw_scan"));
    }
}
