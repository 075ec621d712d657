//! The load section: the load generator ([`crate::harness::load`]) plays 100, 1,000 and 10,000
//! agencies × 100 bets against the shipped server from one process, so that what is measured is
//! the server tree alone: wall time, CPU per agency, memory per waiting session, the parent's
//! and the coordinator's; its table and its targets.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrlimit, getrusage, Resource, UsageWho};

use crate::fmt::{self, mib, num, thousands, Target};
use crate::harness::ctx::{fail, RunError};
use crate::harness::load::{play, Plan, Played};
use crate::harness::logs::{field, fields, for_each_line, num_field};
use crate::harness::machine::{count_rows, tcp_ext, thread_cpu};
use crate::harness::memory::status_kb;
use crate::harness::procs::{describe, remove_dir};
use crate::harness::run::{start_server, Settings};
use crate::section::{load_now, Env, Outcome, Section};

/// Bets per agency.
const BETS: u64 = 100;
/// Waiting sessions whose memory is read, at most (evenly spread over them).
const SAMPLED: usize = 200;

/// The load section.
pub struct Load;

/// One round: what the generator saw, the server tree's CPU (user, system) and memory (KiB).
#[derive(Default)]
struct Row {
    agencies: u32,
    secrets: bool,
    played: Played,
    cpu: Option<(Duration, Duration)>,
    /// Sessions alive at the look, and the PSS of those sampled.
    sessions: usize,
    pss: Vec<u64>,
    session_peak: Option<u64>,
    /// Peak RSS (after the round) and PSS (at the look) of the parent and the coordinator.
    parent: (Option<u64>, Option<u64>),
    coordinator: (Option<u64>, Option<u64>),
    overflows: Option<u64>,
    /// The generator's own CPU time (the bench's thread that plays).
    generator: Duration,
    failures: Vec<String>,
}

/// A `kB` field of `/proc/<pid>/<file>` (`status`, `smaps_rollup`).
fn proc_kb(pid: i32, file: &str, key: &str) -> Option<u64> {
    status_kb(
        &fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?,
        key,
    )
}

/// User and system CPU time of the bench's reaped children (the server and what it reaped).
fn children_times() -> (Duration, Duration) {
    let Ok(usage) = getrusage(UsageWho::RUSAGE_CHILDREN) else {
        return Default::default();
    };
    let time = |t: nix::sys::time::TimeVal| {
        let micros = t.tv_sec() * 1_000_000 + t.tv_usec();
        Duration::from_micros(u64::try_from(micros).unwrap_or_default())
    };
    (time(usage.user_time()), time(usage.system_time()))
}

/// The coordinator's pid, from the server's log.
fn coordinator_pid(log: &Path) -> Option<i32> {
    let mut pid = None;
    let _ = for_each_line(log, |line| {
        let Some(f) = fields(line) else { return };
        if field(&f, "action") == Some("start_coordinator")
            && field(&f, "result") == Some("success")
        {
            // The coordinator's own line of that name has no pid.
            pid = num_field(&f, "pid")
                .and_then(|p| i32::try_from(p).ok())
                .or(pid);
        }
    });
    pid
}

/// Reads the memory of the waiting sessions (a sample), the parent and the coordinator.
fn look(row: &mut Row, server: i32, log: &Path) {
    // Let the sessions take in the WINNERS the generator has sent.
    std::thread::sleep(Duration::from_millis(50));
    let coordinator = coordinator_pid(log);
    let children = fs::read_to_string(format!("/proc/{server}/task/{server}/children"));
    let sessions: Vec<i32> = (children.unwrap_or_default().split_whitespace())
        .filter_map(|p| p.parse().ok())
        .filter(|&p| Some(p) != coordinator)
        .collect();
    let sampled = sessions.iter().step_by((sessions.len() / SAMPLED).max(1));
    row.pss = sampled
        .clone()
        .filter_map(|&p| proc_kb(p, "smaps_rollup", "Pss"))
        .collect();
    row.session_peak = sampled.filter_map(|&p| proc_kb(p, "status", "VmHWM")).max();
    row.sessions = sessions.len();
    row.parent.1 = proc_kb(server, "smaps_rollup", "Pss");
    row.coordinator.1 = coordinator.and_then(|p| proc_kb(p, "smaps_rollup", "Pss"));
}

/// One round against a fresh shipped server in `dir` (with secrets: a `config.ini` beside it).
fn round(env: &Env<'_>, dir: &Path, row: &mut Row) -> Result<(), RunError> {
    let n = row.agencies;
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).map_err(fail("getrlimit"))?;
    if soft < u64::from(n) + 64 {
        return Err(RunError::Fail(format!(
            "the generator may open {soft} files, needs {n} + 64"
        )));
    }
    let secrets: Option<Vec<Vec<u8>>> = row
        .secrets
        .then(|| (1..=n).map(|i| format!("clave-{i}").into_bytes()).collect());
    if secrets.is_some() {
        let lines: String = (1..=n).map(|i| format!("{i}=clave-{i}\n")).collect();
        fs::write(dir.join("secrets.txt"), lines).map_err(fail("write secrets.txt"))?;
        let ini = "[DEFAULT]\nSECRETS_FILE = secrets.txt\n";
        fs::write(dir.join("config.ini"), ini).map_err(fail("write config.ini"))?;
    }
    let before = children_times();
    let (mut server, port) = start_server(env.ctx, dir, n as usize, Settings::Shipped)?;
    let (pid, log) = (server.pid.as_raw(), dir.join("server.log"));
    let overflows = tcp_ext("ListenOverflows");
    let plan = Plan {
        addr: ([127, 0, 0, 1], port).into(),
        agencies: n,
        bets: BETS,
        secrets: secrets.as_deref(),
        timeout: Duration::from_secs(30) + Duration::from_millis(3 * u64::from(n)),
    };
    let cpu_before = thread_cpu();
    row.played = play(env.ctx, &plan, &mut || look(row, pid, &log))?;
    row.generator = thread_cpu().saturating_sub(cpu_before);
    row.parent.0 = proc_kb(pid, "status", "VmHWM");
    row.coordinator.0 = coordinator_pid(&log).and_then(|p| proc_kb(p, "status", "VmHWM"));
    row.overflows = overflows
        .zip(tcp_ext("ListenOverflows"))
        .map(|(a, b)| b - a.min(b));
    server.terminate();
    match server.wait_until(env.ctx, Instant::now() + Duration::from_secs(20))? {
        Some(status) if status.success() => {}
        Some(status) => row.failures.push(format!("server {}", describe(status))),
        None => row
            .failures
            .push("server still running 20 s after SIGTERM".into()),
    }
    let after = children_times();
    row.cpu = server
        .status
        .map(|_| (after.0 - before.0, after.1 - before.1));
    if row.failure_text().is_some() {
        // What the server said about it: its failures and its evictions.
        for_each_line(&log, |line| {
            let Some(f) = fields(line) else { return };
            let (action, result) = (field(&f, "action"), field(&f, "result"));
            if result == Some("fail") || action == Some("evict_session") {
                let detail = field(&f, "error").or(field(&f, "detail")).unwrap_or("");
                let (action, result) = (action.unwrap_or("?"), result.unwrap_or("?"));
                row.failures
                    .push(format!("server log: {action} {result} {detail}"));
            }
        })?;
    }
    let rows = count_rows(&dir.join("bets.csv"))?;
    if rows != u64::from(n) * BETS {
        row.failures.push(format!(
            "bets file has {rows} rows, expected {}",
            u64::from(n) * BETS
        ));
    }
    Ok(())
}

impl Row {
    /// Milliseconds of CPU per agency, user and system.
    fn cpu_ms(&self) -> Option<(f64, f64)> {
        let per = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(self.agencies.max(1));
        self.cpu.map(|(user, sys)| (per(user), per(sys)))
    }

    /// Mean PSS of the sampled waiting sessions, KiB.
    fn pss_mean(&self) -> Option<f64> {
        let n = self.pss.len();
        (n > 0).then(|| self.pss.iter().sum::<u64>() as f64 / n as f64)
    }

    /// Every reason it failed, the generator's first, each once with how often it came (an
    /// agency's number left out, so that thousands failing alike make one line).
    fn failure_text(&self) -> Option<String> {
        let mut tally: Vec<(String, usize)> = Vec::new();
        for reason in self.played.failures.iter().chain(&self.failures) {
            let key = match reason.strip_prefix("agency ") {
                Some(rest) => format!(
                    "agency{}",
                    rest.trim_start_matches(|c: char| c.is_ascii_digit())
                ),
                None => reason.clone(),
            };
            match tally.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => tally.push((key, 1)),
            }
        }
        let shown: Vec<String> = tally
            .iter()
            .take(5)
            .map(|(k, n)| format!("{n} × {k}"))
            .collect();
        (!tally.is_empty()).then(|| shown.join("; "))
    }
}

/// The section's table.
fn table(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let wall = r.played.wall.as_secs_f64();
            let (user, sys) = r.cpu_ms().unzip();
            vec![
                format!(
                    "{}{}",
                    thousands(u64::from(r.agencies)),
                    if r.secrets { " (secrets)" } else { "" }
                ),
                num(Some(wall), 3),
                thousands((f64::from(r.agencies) * BETS as f64 / wall.max(1e-9)) as u64),
                num(user.zip(sys).map(|(u, s)| u + s), 3),
                num(user, 3),
                num(sys, 3),
                format!("{} ({})", thousands(r.sessions as u64), r.pss.len()),
                num(r.pss_mean(), 0),
                num(r.pss.iter().max().map(|&k| k as f64), 0),
                mib(r.session_peak),
                format!("{} / {}", mib(r.parent.0), mib(r.parent.1)),
                format!("{} / {}", mib(r.coordinator.0), mib(r.coordinator.1)),
                num(r.overflows.map(|n| n as f64), 0),
                num(Some(r.generator.as_secs_f64()), 2),
                if r.failure_text().is_some() {
                    "**FAILED**"
                } else {
                    "PASS"
                }
                .into(),
            ]
        })
        .collect();
    fmt::table(
        "Agencies|Wall (s)|Bets/s|CPU per agency (ms)|user (ms)|system (ms)|Sessions waiting (sampled)|PSS per session (kB)|largest (kB)|Session peak RSS (MiB)|Parent peak RSS / PSS (MiB)|Coordinator peak RSS / PSS (MiB)|Listen overflows|Generator CPU (s)|Result",
        "rrrrrrrrrrrrrrl",
        &cells,
    )
}

/// The targets.
fn targets(rows: &[Row]) -> Vec<Target> {
    let shipped: Vec<&Row> = rows.iter().filter(|r| !r.secrets).collect();
    let big = shipped.iter().find(|r| r.agencies == 10_000);
    let failed = |r: &Row| r.failure_text().map(|t| format!("FAILED: {t}"));
    let at_big = |what: &str, measure: &dyn Fn(&Row) -> (bool, String)| match big {
        None => Target::skipped(what, "not run"),
        Some(r) => {
            let (ok, measured) = measure(r);
            let ok = ok && failed(r).is_none();
            Target::check(ok, format!("{what}: {}", failed(r).unwrap_or(measured)))
        }
    };
    let mut out = vec![
        at_big("10,000 agencies × 100 bets end to end ≤ 5 s", &|r| {
            let wall = r.played.wall.as_secs_f64();
            (wall <= 5.0, format!("{wall:.3} s"))
        }),
        at_big(
            "server CPU per agency ≤ 0.5 ms at 10,000 agencies",
            &|r| {
                let ms = r.cpu_ms().map(|(u, s)| u + s);
                (ms.is_some_and(|ms| ms <= 0.5), format!("{} ms", num(ms, 3)))
            },
        ),
    ];
    let pss: Vec<(u32, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.agencies, r.pss_mean()?)))
        .collect();
    let list: Vec<String> = pss
        .iter()
        .map(|(n, kb)| format!("{}: {kb:.0} kB", thousands(u64::from(*n))))
        .collect();
    let what = "PSS per waiting session ≤ 256 kB, every size";
    out.push(match pss.is_empty() {
        true => Target::skipped(what, "no session sampled"),
        false => Target::check(
            pss.iter().all(|(_, kb)| *kb <= 256.0),
            format!("{what}: {}", list.join(", ")),
        ),
    });
    for (name, pick) in [
        ("parent", (|r| r.parent.0) as fn(&Row) -> Option<u64>),
        ("coordinator", |r: &Row| r.coordinator.0),
    ] {
        let what = format!("{name} peak RSS flat from 100 to 10,000 agencies (grows < 4 MiB)");
        let points: Vec<(u32, u64)> = shipped
            .iter()
            .filter_map(|r| Some((r.agencies, pick(r)?)))
            .collect();
        out.push(match (points.first(), points.last()) {
            (Some(a), Some(b)) if a.0 < b.0 => Target::check(
                b.1.saturating_sub(a.1) < 4 * 1024,
                format!(
                    "{what}: {} MiB at {} → {} MiB at {}",
                    mib(Some(a.1)),
                    a.0,
                    mib(Some(b.1)),
                    b.0
                ),
            ),
            _ => Target::skipped(&what, "fewer than two sizes ran"),
        });
    }
    out
}

impl Section for Load {
    fn name(&self) -> &'static str {
        "load"
    }

    fn run(&self, env: &Env<'_>) -> Result<Outcome, RunError> {
        let load_start = load_now();
        let sizes: &[(u32, bool)] = match env.quick {
            true => &[(50, false), (50, true)],
            false => &[(100, false), (1_000, false), (10_000, false)],
        };
        let mut rows = Vec::new();
        for &(agencies, secrets) in sizes {
            env.ctx.check()?;
            let dir = env.scratch.join(format!("load-{agencies}"));
            remove_dir(&dir);
            let mut row = Row {
                agencies,
                secrets,
                ..Row::default()
            };
            let outcome = fs::create_dir_all(&dir)
                .map_err(fail(format!("create {}", dir.display())))
                .and_then(|()| round(env, &dir, &mut row));
            remove_dir(&dir);
            match outcome {
                Err(RunError::Abort) => return Err(RunError::Abort),
                Err(RunError::Fail(reason)) => row.failures.push(reason),
                Ok(()) => {}
            }
            let verdict = row.failure_text().unwrap_or_else(|| "PASS".into());
            eprintln!(
                "bench: load {agencies} agencies × {BETS} bets: {:.3} s (and {:.3} s looking), \
                 {verdict}",
                row.played.wall.as_secs_f64(),
                row.played.paused.as_secs_f64()
            );
            rows.push(row);
        }
        let mut md = String::from("## Ten thousand agencies\n\n");
        md.push_str(
            "The load generator (`bench/src/harness/load.rs`): one process of the bench plays every \
             agency over the real protocol, each on its own TCP connection, from one mio event loop \
             — HELLO, its 100 generated bets in pipelined batches (up to 120 bets and 8 kB each, 64 \
             in flight, as the client's defaults), END, then WINNERS — and checks each agency's \
             RECEIPT (count and digest, by tp0's own `ReceiptBuilder`) and its winners against the \
             bets it made. The server runs its **shipped defaults**, told only `SERVER_PORT=0`, \
             `AGENCIES` and `BETS_FILE`; no client process runs, so the figures are the server \
             tree's. Wall = first connect to last winners list, less the look below. CPU per \
             agency = the server tree's user and system time (`getrusage(RUSAGE_CHILDREN)` of the \
             bench once it has reaped the server, which reaps its sessions and coordinator) / \
             agencies. **Memory**: the last agency's END is held back until every other agency \
             waits for the draw; then the bench reads the PSS (`/proc/<pid>/smaps_rollup`, shared \
             pages divided among their sharers) and peak RSS of up to 200 waiting sessions spread \
             over all, and the PSS of the parent and the coordinator; their peak RSS (`VmHWM`) is \
             read once every agency has its winners. Each size ran once.\n\n",
        );
        md.push_str(&table(&rows));
        let (targets_md, targets_text) = fmt::targets(&targets(&rows));
        let _ = write!(md, "\nTargets:\n\n{targets_md}");
        for r in &rows {
            if let Some(reasons) = r.failure_text() {
                let _ = writeln!(md, "- FAILED: {} agencies: {reasons}", r.agencies);
            }
        }
        md.push('\n');
        md.push_str(&env.stamp(&load_start, self.name()));
        let headline = rows.iter().find(|r| r.agencies == 10_000).map(|r| {
            let cpu = r.cpu_ms().map(|(u, s)| u + s);
            [
                "Load generator: 10,000 agencies × 100 bets (server tree)".into(),
                format!(
                    "{:.3} s, {} ms CPU per agency",
                    r.played.wall.as_secs_f64(),
                    num(cpu, 3)
                ),
                "—".into(),
                "—".into(),
                "≤ 5 s, ≤ 0.5 ms CPU per agency".into(),
            ]
        });
        Ok(Outcome {
            body: md,
            console: format!("{}\n{targets_text}", table(&rows)),
            headline: headline.into_iter().collect(),
            passed: rows.iter().all(|r| r.failure_text().is_none()),
            ..Outcome::default()
        })
    }
}
