//! The load section: the load generator ([`crate::harness::load`]) plays 100, 1,000 and 10,000
//! agencies × 100 bets against the shipped server from one process, so that what is measured is
//! the server tree alone: wall time, CPU per agency, memory per waiting session, the parent's
//! and the coordinator's; its table and its targets.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::fmt::{self, mib, num, thousands, Table, Target};
use crate::harness::load::{play, Plan};
use crate::harness::machine::{cpu, load_average, RUSAGE_CHILDREN};
use crate::harness::memory::{children, proc_kb};
use crate::harness::run::{check_rows, in_scratch, start_server, stop_server, Settings};
use crate::harness::{fail, fields, for_each_line, get, succeeded, Result};
use crate::sections::{Env, Outcome};

/// Bets per agency.
const BETS: u64 = 100;
/// Waiting sessions whose memory is read, at most (spread evenly over them).
const SAMPLED: usize = 200;

/// One round: wall time, the server tree's CPU (user, system), memory in KiB: the sampled
/// sessions' PSS and largest peak RSS, (peak RSS, PSS) of the parent and the coordinator.
#[derive(Default)]
struct Row {
    agencies: u32,
    secrets: bool,
    wall: Duration,
    cpu: Option<(Duration, Duration)>,
    sessions: usize,
    pss: Vec<u64>,
    session_peak: Option<u64>,
    parent: (Option<u64>, Option<u64>),
    coordinator: (Option<u64>, Option<u64>),
    failures: Vec<String>,
}

/// The coordinator's pid, from the server's log.
fn coordinator_pid(log: &Path) -> Option<i32> {
    let mut pid = None;
    let _ = for_each_line(log, |line| {
        let f = fields(line);
        pid = get(&f, "pid")
            .filter(|_| succeeded(&f, "start_coordinator"))
            .or(pid);
    });
    pid
}

/// Reads the memory of the waiting sessions (a sample), the parent and the coordinator.
fn look(row: &mut Row, server: i32, log: &Path) {
    // Let the sessions take in the WINNERS the generator has sent.
    std::thread::sleep(Duration::from_millis(50));
    let coordinator = coordinator_pid(log);
    let mut sessions = children((server, server));
    sessions.retain(|&p| Some(p) != coordinator);
    let sampled = sessions.iter().step_by((sessions.len() / SAMPLED).max(1));
    let pss = |p| proc_kb(p, "smaps_rollup", "Pss");
    let peak = |p| proc_kb(p, "status", "VmHWM");
    row.pss = sampled.clone().filter_map(|&p| pss(p)).collect();
    row.session_peak = sampled.filter_map(|&p| peak(p)).max();
    row.sessions = sessions.len();
    (row.parent.1, row.coordinator.1) = (pss(server), coordinator.and_then(pss));
}

/// One round against a fresh shipped server in `dir` (with secrets: a `config.ini` beside it).
fn round(env: &Env<'_>, dir: &Path, row: &mut Row) -> Result<()> {
    let n = row.agencies;
    let secrets: Vec<Vec<u8>> = (1..=n).map(|i| format!("clave-{i}").into()).collect();
    if row.secrets {
        let lines: String = (1..=n).map(|i| format!("{i}=clave-{i}\n")).collect();
        let ini = "[DEFAULT]\nSECRETS_FILE = secrets.txt\n";
        let wrote = fs::write(dir.join("secrets.txt"), lines);
        let wrote = wrote.and(fs::write(dir.join("config.ini"), ini));
        wrote.map_err(fail("write the secrets"))?;
    }
    let before = cpu(RUSAGE_CHILDREN);
    let (mut server, port) = start_server(env.ctx, dir, n as usize, Settings::Shipped)?;
    let (pid, log) = (server.pid.as_raw(), dir.join("server.log"));
    let plan = Plan {
        addr: ([127, 0, 0, 1], port).into(),
        agencies: n,
        bets: BETS,
        secrets: row.secrets.then_some(&secrets[..]),
        timeout: Duration::from_secs(30) + Duration::from_millis(3 * u64::from(n)),
    };
    let played = play(env.ctx, &plan, &mut || look(row, pid, &log))?;
    (row.wall, row.failures) = played;
    row.parent.0 = proc_kb(pid, "status", "VmHWM");
    row.coordinator.0 = coordinator_pid(&log).and_then(|p| proc_kb(p, "status", "VmHWM"));
    stop_server(env.ctx, &mut server, &mut row.failures)?;
    let after = cpu(RUSAGE_CHILDREN);
    row.cpu = server
        .status
        .map(|_| (after.0 - before.0, after.1 - before.1));
    if !row.failures.is_empty() {
        // What the server said about it: its failures and its evictions.
        for_each_line(&log, |line| {
            let f = fields(line);
            let text = |key| get::<String>(&f, key).unwrap_or_default();
            let (action, result) = (text("action"), text("result"));
            if result == "fail" || action == "evict_session" {
                let detail = get(&f, "error").unwrap_or_else(|| text("detail"));
                row.failures
                    .push(format!("server log: {action} {result}: {detail}"));
            }
        })?;
    }
    check_rows(dir, u64::from(n) * BETS, &mut row.failures)
}

impl Row {
    /// Milliseconds of CPU per agency: user, system.
    fn cpu_ms(&self) -> Option<[f64; 2]> {
        let ms = |d: Duration| d.as_secs_f64() * 1e3 / f64::from(self.agencies.max(1));
        self.cpu.map(|(user, sys)| [ms(user), ms(sys)])
    }

    /// Mean PSS of the sampled waiting sessions, KiB.
    fn pss_mean(&self) -> Option<f64> {
        let n = self.pss.len();
        (n > 0).then(|| self.pss.iter().sum::<u64>() as f64 / n as f64)
    }

    /// Its reasons of failure, each once with how often it came (an agency's number left out, so
    /// that thousands failing alike make one line).
    fn failure_text(&self) -> Option<String> {
        let mut tally: Vec<(String, usize)> = Vec::new();
        for reason in &self.failures {
            let rest = reason
                .strip_prefix("agency ")
                .map(|r| r.trim_start_matches(char::is_numeric));
            let key = rest.map_or(reason.clone(), |rest| format!("agency{rest}"));
            match tally.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => tally.push((key, 1)),
            }
        }
        let shown = tally.iter().take(5).map(|(k, n)| format!("{n} × {k}"));
        (!tally.is_empty()).then(|| shown.collect::<Vec<_>>().join("; "))
    }
}

/// The section's table.
fn table(rows: &[Row]) -> String {
    let agencies =
        |r: &Row| thousands(r.agencies.into()) + if r.secrets { " (secrets)" } else { "" };
    let cpu = |r: &Row| {
        r.cpu_ms().map_or("—".into(), |[u, s]| {
            format!("{u:.3} + {s:.3} = {:.3}", u + s)
        })
    };
    let sessions = |r: &Row| format!("{} ({})", thousands(r.sessions as u64), r.pss.len());
    let largest = |r: &Row| num(r.pss.iter().max().map(|&k| k as f64), 0);
    let pair = |(a, b): (Option<u64>, Option<u64>)| format!("{} / {}", mib(a), mib(b));
    let result = |r: &Row| ["PASS", "**FAILED**"][usize::from(!r.failures.is_empty())].into();
    Table::of(rows)
        .right("Agencies", agencies)
        .right("Wall (s)", |r| format!("{:.3}", r.wall.as_secs_f64()))
        .right("Server CPU per agency, user + system (ms)", cpu)
        .right("Sessions waiting (sampled)", sessions)
        .right("PSS per session, mean / largest (kB)", |r| {
            format!("{} / {}", num(r.pss_mean(), 0), largest(r))
        })
        .right("Session peak RSS (MiB)", |r| mib(r.session_peak))
        .right("Parent peak RSS / PSS (MiB)", |r| pair(r.parent))
        .right("Coordinator peak RSS / PSS (MiB)", |r| pair(r.coordinator))
        .left("Result", result)
        .markdown()
}

/// The targets.
fn targets(rows: &[Row]) -> Vec<Target> {
    let shipped: Vec<&Row> = rows.iter().filter(|r| !r.secrets).collect();
    let big = shipped.iter().find(|r| r.agencies == 10_000);
    let at_big = |what: &str, got: Option<(bool, String)>| match big {
        None => Target::skipped(what, "not run"),
        Some(r) if !r.failures.is_empty() => {
            Target::check(false, format!("{what}: the round FAILED (below)"))
        }
        Some(_) => match got {
            Some((ok, got)) => Target::check(ok, format!("{what}: {got}")),
            None => Target::check(false, format!("{what}: not measured")),
        },
    };
    let wall = big.map(|r| r.wall.as_secs_f64());
    let wall = wall.map(|s| (s <= 5.0, format!("{s:.3} s")));
    let cpu = big.and_then(|r| r.cpu_ms()).map(|[u, s]| u + s);
    let cpu = cpu.map(|ms| (ms <= 0.5, format!("{ms:.3} ms")));
    let pss: Vec<(u32, f64)> = rows
        .iter()
        .filter_map(|r| Some((r.agencies, r.pss_mean()?)))
        .collect();
    let list = pss
        .iter()
        .map(|(n, kb)| format!("{}: {kb:.0} kB", thousands((*n).into())));
    let list = list.collect::<Vec<_>>().join(", ");
    let mut out = vec![
        at_big("10,000 agencies × 100 bets end to end ≤ 5 s", wall),
        at_big("server CPU per agency ≤ 0.5 ms at 10,000 agencies", cpu),
        Target::check(
            !pss.is_empty() && pss.iter().all(|p| p.1 <= 256.0),
            format!("PSS per waiting session ≤ 256 kB, every size: {list}"),
        ),
    ];
    for (name, parent) in [("parent", true), ("coordinator", false)] {
        let pick = |r: &Row| if parent { r.parent.0 } else { r.coordinator.0 };
        let points = shipped.iter().filter_map(|r| Some((*r, pick(r)?)));
        let points: Vec<(&Row, u64)> = points.collect();
        let what = format!("{name} peak RSS flat from 100 to 10,000 agencies (grows < 4 MiB)");
        out.push(match points[..] {
            [(a, lo), .., (b, hi)] => {
                // A round that failed had fewer agencies connected at the end than it names.
                let whole = b.failures.is_empty();
                let got = format!(
                    "{what}: {} MiB at {} → {} MiB at {}{}",
                    mib(Some(lo)),
                    thousands(a.agencies.into()),
                    mib(Some(hi)),
                    thousands(b.agencies.into()),
                    if whole { "" } else { " (that round FAILED)" }
                );
                Target::check(whole && hi.saturating_sub(lo) < 4 * 1024, got)
            }
            _ => Target::skipped(&what, "fewer than two sizes ran"),
        });
    }
    out
}

/// Runs the section and writes it up.
pub fn run(env: &Env<'_>) -> Result<Outcome> {
    let load_start = load_average();
    let sizes: &[(u32, bool)] = match env.quick {
        true => &[(50, false), (50, true)],
        false => &[(100, false), (1_000, false), (10_000, false)],
    };
    let mut rows = Vec::new();
    for &(agencies, secrets) in sizes {
        env.ctx.check()?;
        let (mut row, dir) = (Row::default(), env.scratch.join(format!("load-{agencies}")));
        (row.agencies, row.secrets) = (agencies, secrets);
        let failed = in_scratch(&dir, || round(env, &dir, &mut row))?;
        row.failures.extend(failed);
        let (wall, verdict) = (row.wall.as_secs_f64(), row.failure_text());
        let verdict = verdict.unwrap_or_else(|| "PASS".into());
        eprintln!("bench: load {agencies} agencies × {BETS} bets: {wall:.3} s, {verdict}");
        rows.push(row);
    }
    let failed = rows
        .iter()
        .filter_map(|r| Some((r.agencies, r.failure_text()?)));
    let failures = failed.map(|(n, why)| format!("- FAILED: {n} agencies: {why}\n"));
    let values = [
        ("table", table(&rows)),
        ("targets", fmt::targets(&targets(&rows))),
        ("failures", failures.collect()),
        ("stamp", env.stamp(&load_start, "load")),
    ];
    Ok(Outcome {
        body: fmt::fill(include_str!("load.md"), &values),
        passed: rows.iter().all(|r| r.failures.is_empty()),
        ..Outcome::default()
    })
}
