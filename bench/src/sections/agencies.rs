//! The agencies section: many agencies at once with the shipped defaults (1,000 generated bets
//! each), tp0's CPU per agency (server tree and clients) beside the per-agency floor measured in
//! turn with it, its table, its targets and its chart.

use std::time::Duration;

use crate::canvas::{categories, render, ticks, Line, LineChart, BLUE, GREY};
use crate::fmt::{self, mib, num, thousands, times, Table, Target};
use crate::harness::data::Source;
use crate::harness::measure::{Plan, Summary};
use crate::harness::run::{RunResult, Settings, CLIENT, COORDINATOR, PARENT, SESSION};
use crate::harness::Result;
use crate::sections::{headline, point, time_target, Env, Outcome};

/// The chart this section draws.
const CHART: &str = "benchmarks-agencies.png";
/// Agency counts; `--quick` runs only 200.
const SIZES: [u32; 5] = [5, 50, 200, 1_000, 3_000];

/// One size's runs (tp0 or the floor).
type Row = Summary<()>;

/// Median ms per agency of one per-run duration.
fn ms(r: &Row, pick: impl Fn(&RunResult) -> Option<Duration>) -> Option<f64> {
    r.median_of(|x| Some(pick(x)?.as_secs_f64() * 1e3 / r.agencies.max(1) as f64))
}

/// tp0's CPU per agency, both sides.
fn cpu(r: &Row) -> Option<f64> {
    ms(r, |x| Some(x.cpu_server? + x.cpu_clients?))
}

/// The floor's CPU per agency, at the same size.
fn floor_cpu(rows: &[Row], r: &Row) -> Option<f64> {
    let floor = rows
        .iter()
        .find(|f| f.settings == Settings::AgencyFloor && f.agencies == r.agencies);
    floor?.median_of(|x| Some(x.agency_floor?.cpu.as_secs_f64() * 1e3))
}

/// tp0's rows (not the floor's).
fn tp0(rows: &[Row]) -> impl Iterator<Item = &Row> {
    rows.iter().filter(|r| r.settings == Settings::Shipped)
}

/// The section's table.
fn table(rows: &[Row]) -> String {
    // A column of the median of one number per run, or of ms per agency of one duration.
    let median = |pick: fn(&RunResult) -> Option<f64>, d| move |r: &Row| num(r.median_of(pick), d);
    let per = |pick: fn(&RunResult) -> Option<Duration>| move |r: &Row| num(ms(r, pick), 2);
    let spawning = median(|x| Some(x.spawn?.as_secs_f64()), 3);
    let overflows = median(|x| Some(x.listen_overflows? as f64), 0);
    let reconnects = median(|x| Some(x.reconnects as f64), 0);
    let over = |r: &Row| times(cpu(r).zip(floor_cpu(rows, r)).map(|(a, b)| a / b.max(1e-9)));
    Table::of(tp0(rows))
        .right("Agencies", |r| thousands(r.agencies as u64))
        .right("Bets", |r| thousands(r.bets))
        .times()
        .right("Per agency (ms)", per(|x| x.e2e))
        .right("CPU per agency (ms)", |r| num(cpu(r), 2))
        .right("of it server tree (ms)", per(|x| x.cpu_server))
        .right("of it clients (ms)", per(|x| x.cpu_clients))
        .right("Floor CPU per agency (ms)", |r| num(floor_cpu(rows, r), 2))
        .right("× floor", over)
        .right("Spawning clients (s)", spawning)
        .right("Listen overflows", overflows)
        .right("Client reconnects", reconnects)
        .rss([PARENT, COORDINATOR, SESSION, CLIENT])
        .right("Load (1 min)", median(|x| x.load, 1))
        .result()
        .markdown()
}

/// The targets for many agencies.
fn targets(rows: &[Row]) -> Vec<Target> {
    let ran: Vec<&Row> = tp0(rows).filter(|s| s.ran()).collect();
    let time = |(n, limit): (usize, f64)| {
        let what = format!("{} agencies end to end ≤ {limit:.0} s", thousands(n as u64));
        let row = ran.iter().copied().find(|s| s.agencies == n);
        time_target(&what, "", limit, row)
    };
    let mut out: Vec<Target> = [(1_000, 3.0), (3_000, 8.0)].map(time).into();
    let flat = ran.iter().filter(|s| s.agencies >= 50 && s.passed());
    let flat: Vec<(usize, f64)> = flat
        .filter_map(|s| Some((s.agencies, ms(s, |x| x.e2e)?)))
        .collect();
    let what = "time per agency flat from 50 to 3,000 agencies";
    if flat.len() < 2 {
        out.push(Target::skipped(what, "fewer than two sizes ran"));
    } else {
        let lo = flat.iter().map(|(_, t)| *t).fold(f64::INFINITY, f64::min);
        let hi = flat.iter().map(|(_, t)| *t).fold(0.0, f64::max);
        let list: Vec<String> = flat
            .iter()
            .map(|(n, t)| format!("{n}: {t:.2} ms"))
            .collect();
        let (list, ratio) = (list.join(", "), hi / lo.max(1e-9));
        let text = format!("{what} (slowest ≤ 1.5 × fastest): {list} (ratio {ratio:.2})");
        out.push(Target::check(hi <= 1.5 * lo, text));
    }
    for (name, role) in [("parent", PARENT), ("coordinator", COORDINATOR)] {
        let points = ran.iter().filter_map(|s| Some((s.agencies, s.rss(role)?)));
        if let [(a, lo), .., (b, hi)] = points.collect::<Vec<_>>()[..] {
            let (from, to) = (mib(Some(lo)), mib(Some(hi)));
            let text = format!(
                "{name} memory flat in the number of agencies (grows < 2 MiB from {a} to {b}): \
                 {from} → {to} MiB"
            );
            out.push(Target::check(hi.saturating_sub(lo) < 2 * 1024, text));
        }
    }
    out
}

/// The chart: ms per agency against agencies, and the floor's process start.
fn draw(rows: &[Row]) -> Result<Vec<u8>, String> {
    let mut sizes: Vec<usize> = rows.iter().map(|r| r.agencies).collect();
    sizes.dedup();
    let at = |r: &Row| sizes.iter().position(|&n| n == r.agencies).unwrap_or(0) as f64;
    let dot = |r: &Row| {
        let failed = if r.passed() { "" } else { " (FAILED)" };
        let label = move |mid: f64| format!("{mid:.2} ms{failed}");
        point(r, at(r), |t| t * 1e3 / r.agencies.max(1) as f64, &label)
    };
    let floor = rows.iter().filter(|r| r.settings == Settings::AgencyFloor);
    let floor = floor.filter_map(|r| Some((at(r), ms(r, |x| x.e2e)?)));
    let floor_name = "floor: static no-op processes started at once and reaped, per agency";
    let lines = vec![
        Line::solid(
            "tp0, shipped defaults",
            BLUE,
            tp0(rows).filter_map(dot).collect(),
            false,
        ),
        Line::dashed(floor_name, GREY, floor),
    ];
    let names = sizes.iter().map(|&n| thousands(n as u64)).collect();
    let chart = LineChart(
        "tp0: end-to-end time per agency, shipped defaults, 1,000 bets each".into(),
        ("agencies at once", "ms per agency (end to end / agencies)"),
        (categories(names), ticks(1)),
        lines,
    );
    render("", (900, 520), &[chart])
}

/// Runs the section and writes it up.
pub fn run(env: &Env<'_>) -> Result<Outcome> {
    let (sizes, runs): (&[u32], usize) = if env.quick { (&[200], 1) } else { (&SIZES, 3) };
    let label = "generated, 1,000 bets per agency, shipped defaults";
    let plan = |&n: &u32| {
        let configs = vec![((), Settings::Shipped), ((), Settings::AgencyFloor)];
        Plan::new(
            "agencies",
            Source::Generated(n, 1_000),
            label,
            configs,
            runs,
        )
    };
    let plans: Vec<Plan<()>> = sizes.iter().map(plan).collect();
    let (rows, mut out) = env.measure("agencies", &plans)?;
    let runs = match runs {
        1 => "Each size ran once.".to_string(),
        n => format!("Each size ran {n} times: medians, RSS the maximum."),
    };
    let starts = if tp0(&rows).flat_map(|s| &s.runs).all(|r| r.spawn_urgent) {
        include_str!("agencies-fifo.md")
    } else {
        include_str!("agencies-plain.md")
    };
    let values = [
        ("runs", runs),
        ("starts", starts.into()),
        ("table", table(&rows)),
        ("targets", fmt::targets(&targets(&rows))),
    ];
    out.write(include_str!("agencies.md"), &values);
    out.chart = Some((CHART, draw(&rows)?));
    let row = tp0(&rows).find(|r| r.agencies == 1_000);
    let what = "CPU per agency at 1,000 agencies (server tree + client)";
    let target = "— (1,000 agencies end to end ≤ 3 s)";
    let cpus = row.and_then(|r| cpu(r).zip(floor_cpu(&rows, r)));
    out.headline
        .extend(cpus.and_then(|t| headline(what.into(), t, "ms", "", target)));
    Ok(out)
}
