//! The loopback section: the course dataset, it ×20 and generated data sets, durable and relaxed
//! at several batch sizes, each data set's loopback floor run alternately with tp0's runs; its
//! table, its targets, its notes and its chart.

use crate::canvas::{categories, render, ticks, Line, LineChart, BLUE, GREY, ORANGE, RED};
use crate::fmt::{self, median, mib, num, thousands, times, Table, Target};
use crate::harness::data::Source;
use crate::harness::measure::{Plan, Summary};
use crate::harness::memory::MIN_INTERVAL;
use crate::harness::run::{sync_name, Settings, CLIENT, COORDINATOR, PARENT, SESSION};
use crate::harness::Result;
use crate::sections::{headline, point, time_target, Env, Headline, Outcome};

/// The client's default batch size.
const BATCH: u16 = 120;
/// The batch sizes of the course ×20.
const BATCHES: [u16; 4] = [30, 60, BATCH, 140];
/// The durable line's legend.
const DURABLE: &str = "durable (SYNC=true, fdatasync)";
/// What a data set's label says when the course dataset is absent.
const STAND_IN: &str = " (generated stand-in: course dataset absent)";

/// Where a data set appears in the chart: the "against agencies" panel, the "against batch
/// size" panel, only in the table, or only in the check's target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Agencies,
    Batches,
    TableOnly,
    Check,
}

/// The check's A/B: the course ×20, durable, batch 120, with `client` and `client-one-pass` in
/// turn, this many times each.
const CHECK_RUNS: usize = 7;

/// A configuration's runs.
type Row = Summary<Role>;

/// The plans: each data set's tp0 durable and relaxed at each batch size, then its floor; without
/// the course dataset, generated stand-ins of its size.
fn plans(quick: bool, course: bool) -> Vec<Plan<Role>> {
    use Role::*;
    let plan = |id: &str, label: &str, source, batches: &[u16], role, runs| {
        let tuned = |&b: &u16| [true, false].map(|d| Settings::Tuned(d, b));
        let tuned = batches.iter().flat_map(tuned);
        let configs = tuned.chain([Settings::Floor]).map(|s| (role, s));
        Plan::new(id, source, label, configs.collect(), runs)
    };
    // `agencies` generated files of `per` bets, at the default batch size.
    let generated = |agencies: u32, per: u64, role, runs| {
        let total = u64::from(agencies) * per;
        let size = match total >= 1_000_000 {
            true => format!("{}M", total / 1_000_000),
            false => format!("{}k", total / 1_000),
        };
        let id = format!("gen-{}-{agencies}", size.to_lowercase());
        let source = Source::Generated(agencies, per);
        let label = format!("generated {size}");
        plan(&id, &label, source, &[BATCH], role, runs)
    };
    let (src, x20, stand_in) = match course {
        true => (Source::Course(1), Source::Course(20), ""),
        false => (Source::STAND_IN, Source::Generated(5, 314_788), STAND_IN),
    };
    let (label, x20_label) = (format!("course{stand_in}"), format!("course ×20{stand_in}"));
    if quick {
        return vec![
            plan("course", &label, src, &[30, BATCH], Batches, 1),
            generated(5, 40_000, Agencies, 1),
            generated(50, 4_000, Agencies, 1),
        ];
    }
    let pair = [Settings::Tuned(true, BATCH), Settings::OnePass(true, BATCH)];
    let check = Plan::new(
        "check-x20",
        x20,
        &x20_label,
        pair.map(|s| (Check, s)).into(),
        CHECK_RUNS,
    );
    vec![
        plan("course", &label, src, &[BATCH], TableOnly, 3),
        plan("course-x20", &x20_label, x20, &BATCHES, Batches, 3),
        generated(5, 200_000, Agencies, 3),
        generated(50, 20_000, Agencies, 3),
        generated(5, 2_000_000, TableOnly, 1),
        generated(50, 200_000, TableOnly, 1),
        check,
    ]
}

/// The median time of the floor of `row`'s data set.
fn floor(rows: &[Row], row: &Row) -> Option<f64> {
    let floor = rows
        .iter()
        .find(|r| r.id == row.id && r.settings == Settings::Floor);
    floor.filter(|f| f.passed())?.e2e()
}

/// The configurations of data sets whose id starts with `id`, durable at the default batch
/// size, that ran.
fn durable<'a>(rows: &'a [Row], id: &'a str) -> impl Iterator<Item = &'a Row> {
    let tuned = Settings::Tuned(true, BATCH);
    rows.iter()
        .filter(move |r| r.id.starts_with(id) && r.settings == tuned && r.ran())
}

/// The results table: tp0's configurations, each beside its data set's floor.
fn table(rows: &[Row]) -> String {
    let tuned = |r: &Row| match r.settings {
        Settings::Tuned(durable, batch) => Some((durable, batch)),
        _ => None,
    };
    let bets = |r: &Row| match r.bets {
        0 => "—".into(),
        n => thousands(n),
    };
    let over = |r: &Row| times(r.e2e().zip(floor(rows, r)).map(|(t, f)| t / f.max(1e-9)));
    let draw = |r: &Row| num(r.median_of(|x| Some(x.draw_us? as f64 / 1e3)), 2);
    Table::of(
        rows.iter()
            .filter(|r| tuned(r).is_some() && r.tag != Role::Check),
    )
    .left("Data", |r| r.label.clone())
    .right("Agencies", |r| r.agencies.to_string())
    .right("Bets", bets)
    .left("Sync", |r| tuned(r).map_or("", |t| sync_name(t.0)).into())
    .right("Batch", |r| tuned(r).map_or(0, |t| t.1).to_string())
    .times()
    .right("Floor (s)", |r| num(floor(rows, r), 3))
    .right("× floor", over)
    .right("Draw (ms)", draw)
    .rss([PARENT, SESSION, COORDINATOR, CLIENT])
    .result()
    .markdown()
}

/// A throughput target: each of `rows` passed at `min` bets/s or more.
fn rate_target<'a>(what: &str, min: f64, rows: impl Iterator<Item = &'a Row>) -> Target {
    let rows: Vec<&Row> = rows.collect();
    if rows.is_empty() {
        return Target::skipped(what, "not run");
    }
    let rate = |s: &Row| s.rate().filter(|_| s.passed());
    let measured = rows.iter().map(|s| {
        let got = rate(s).map_or("FAILED".into(), |r| thousands(r as u64) + " bets/s");
        format!("{} ({} bets): {got}", s.label, thousands(s.bets))
    });
    let measured = measured.collect::<Vec<_>>().join("; ");
    let ok = rows.iter().all(|s| rate(s).is_some_and(|r| r >= min));
    Target::check(ok, format!("{what}: {measured}"))
}

/// The targets for the loopback runs.
fn targets(rows: &[Row]) -> Vec<Target> {
    let tp0 = || {
        rows.iter()
            .filter(|r| r.ran() && matches!(r.settings, Settings::Tuned(..)))
    };
    let largest = |role, id: &str| {
        let of = tp0().filter(|r| r.id.starts_with(id));
        of.filter_map(|s| s.rss(role)).max()
    };
    let (session, client) = (largest(SESSION, ""), largest(CLIENT, ""));
    let small = |v: Option<u64>| v.is_some_and(|kb| kb < 8 * 1024);
    let course = durable(rows, "course").find(|r| r.id == "course");
    let check = check_target(rows);
    let detail = course.map(|r| format!(" ({}, durable, batch 120)", r.label));
    let what = "coordinator < 16 MiB at 10 million bets";
    let what_course = "course dataset end to end ≤ 0.25 s";
    let coordinator = largest(COORDINATOR, "gen-10m");
    vec![
        rate_target(
            "≥ 2,000,000 bets/s, 5 agencies, course dataset ×20, durable, batch 120",
            2e6,
            durable(rows, "course-x20"),
        ),
        rate_target(
            "≥ 1,000,000 bets/s, 50 agencies, generated data, durable, batch 120",
            1e6,
            durable(rows, "gen-").filter(|s| s.agencies == 50),
        ),
        time_target(what_course, &detail.unwrap_or_default(), 0.25, course),
        Target::check(
            tp0().next().is_some() && small(session) && small(client),
            format!(
                "session child and client < 8 MiB RSS, every size: largest session {} MiB, \
                 largest client {} MiB",
                mib(session),
                mib(client)
            ),
        ),
        match tp0().any(|r| r.id.starts_with("gen-10m")) {
            false => Target::skipped(what, "not run"),
            true => Target::check(
                coordinator.is_some_and(|kb| kb < 16 * 1024),
                format!("{what}: largest {} MiB", mib(coordinator)),
            ),
        },
        check,
    ]
}

/// The clients' check of their files before connecting: the course ×20 round with it at most 5%
/// slower than with `client-one-pass` (its work done as each row is sent). The runs alternate, so
/// each pair ran seconds apart: the median of the pairs' ratios.
fn check_target(rows: &[Row]) -> Target {
    let what = "the check before connecting adds ≤ 5% end to end, course ×20, durable, batch 120";
    let of = |settings| {
        rows.iter()
            .find(|r| r.id == "check-x20" && r.settings == settings)
    };
    let with = of(Settings::Tuned(true, BATCH)).filter(|r| r.ran());
    let (Some(with), Some(once)) = (with, of(Settings::OnePass(true, BATCH))) else {
        return Target::skipped(what, "not run");
    };
    let e2e = |r: &Row| {
        r.runs
            .iter()
            .map(|x| x.e2e.map(|t| t.as_secs_f64()))
            .collect::<Vec<_>>()
    };
    let pairs = e2e(with).into_iter().zip(e2e(once));
    let ratios = pairs.filter_map(|(a, b)| Some(a? / b?.max(1e-9)));
    let ratio = median(ratios.collect()).filter(|_| with.passed() && once.passed());
    let (Some(ratio), Some(t_with), Some(t_once)) = (ratio, with.e2e(), once.e2e()) else {
        return Target::check(false, format!("{what}: FAILED"));
    };
    let cpu = |r: &Row| num(r.median_of(|x| Some(x.cpu_clients?.as_secs_f64())), 3);
    Target::check(
        ratio <= 1.05,
        format!(
            "{what}: {:+.1}% (median of {} alternated pairs; medians {t_with:.3} s with it, \
             {t_once:.3} s with `client-one-pass`, its work as each row is sent; the five clients' \
             CPU {} s against {} s)",
            100.0 * (ratio - 1.0),
            with.runs.len().min(once.runs.len()),
            cpu(with),
            cpu(once)
        ),
    )
}

/// A bets/s value as a short label: `1.6M`, `850K`.
fn short_rate(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.0}K", v / 1e3),
        v => format!("{v:.0}"),
    }
}

/// One panel: durable, relaxed and the floor in bets/s against agencies (categories) or batch
/// size, for the data sets of `role`, with the target.
fn panel(all: &[Row], role: Role, target: (f64, &str)) -> LineChart {
    let rows: Vec<&Row> = all.iter().filter(|r| r.tag == role).collect();
    let first = rows.first();
    let data = first.map_or(String::new(), |r| r.label.replace(STAND_IN, " (generated)"));
    let mut sizes: Vec<usize> = rows.iter().map(|r| r.agencies).collect();
    sizes.dedup();
    let x = |r: &Row| match r.settings {
        Settings::Tuned(_, batch) if role == Role::Batches => f64::from(batch),
        _ => sizes.iter().position(|&n| n == r.agencies).unwrap_or(0) as f64,
    };
    let of = |durable| {
        let tuned = move |r: &&&Row| matches!(r.settings, Settings::Tuned(d, _) if d == durable);
        rows.iter().filter(tuned)
    };
    let points = |durable| {
        let dot = |r: &&Row| point(r, x(r), |t| r.bets as f64 / t, &short_rate);
        of(durable).filter_map(dot).collect::<Vec<_>>()
    };
    let durable = points(true);
    let floors = of(true).filter_map(|r| Some((x(r), r.bets as f64 / floor(all, r)?)));
    let span = [durable.first(), durable.last()].map(|p| p.map(|p| p.0));
    let span = [span[0].unwrap_or(0.0), span[1].unwrap_or(1.0)];
    let n = first.map_or(0, |r| r.agencies);
    let (title, x_axis, x_ticks) = match role {
        Role::Batches => (
            format!("vs batch size: {data}, {n} agencies"),
            "batch size (bets per batch)",
            ticks(0),
        ),
        _ => (
            format!("vs agencies: {data}, batch {BATCH}"),
            "agencies (clients)",
            categories(sizes.iter().map(usize::to_string).collect()),
        ),
    };
    let floor = "floor: the bytes over loopback, one fdatasync";
    let lines = vec![
        Line::solid(DURABLE, BLUE, durable, true),
        Line::solid("relaxed (SYNC=false)", ORANGE, points(false), false),
        Line::dashed(floor, GREY, floors),
        Line::dashed(target.1, RED, span.map(|x| (x, target.0))),
    ];
    let axes = (
        x_axis,
        "bets/s (end to end); whiskers: slowest to fastest run",
    );
    LineChart(title, axes, (x_ticks, Box::new(short_rate)), lines)
}

/// How the RSS sampler did over tp0's runs.
fn sampler_note(rows: &[Row]) -> String {
    let tp0 = rows
        .iter()
        .filter(|r| matches!(r.settings, Settings::Tuned(..)));
    let runs: Vec<_> = tp0.flat_map(|s| &s.runs).collect();
    let sweeps = runs.iter().map(|r| r.sampler.0).min();
    let sweeps = sweeps.map_or("none".into(), |n| n.to_string());
    let busy: f64 = runs.iter().map(|r| r.sampler.1.as_secs_f64()).sum();
    let ran: f64 = runs.iter().filter_map(|r| Some(r.e2e?.as_secs_f64())).sum();
    let share = busy / ran.max(1e-9);
    let (ms, pct) = (format!("{:.1}", 1e3 * share), format!("{:.1}", 1e2 * share));
    let text = fmt::fill(include_str!("sampler.md"), &[("ms", ms), ("pct", pct)]);
    let interval = MIN_INTERVAL.as_millis().to_string();
    fmt::fill(&text, &[("interval", interval), ("sweeps", sweeps)])
}

/// The headline rows: tp0 durable at batch 120 on three data sets against their floors.
fn headlines(rows: &[Row]) -> Vec<Headline> {
    let rows_of = [
        ("course-x20", "course ×20", "≥ 2,000,000 bets/s"),
        ("course", "course", "≤ 0.25 s"),
        ("gen-10m-50", "generated 10M", "≥ 1,000,000 bets/s"),
    ];
    let row = |(id, what, target): (&str, &str, &str)| {
        let row = durable(rows, id).find(|r| r.id == id)?;
        let (bets, n) = (thousands(row.bets), row.agencies);
        let what = format!("Loopback: {what} ({bets} bets, {n} agencies, durable, batch 120)");
        let rate = format!(" ({} bets/s)", thousands(row.rate()? as u64));
        headline(what, (row.e2e()?, floor(rows, row)?), "s", &rate, target)
    };
    rows_of.into_iter().filter_map(row).collect()
}

/// Runs the section and writes it up.
pub fn run(env: &Env<'_>) -> Result<Outcome> {
    let quick = env.quick;
    let (rows, mut out) = env.measure("loopback", &plans(quick, env.course.is_some()))?;
    out.notes.push(sampler_note(&rows));
    out.notes.push(include_str!("draw.md").into());
    let runs = match quick {
        true => "Each configuration ran once.",
        false => include_str!("loopback-runs.md"),
    };
    let values = [
        ("runs", runs.into()),
        ("table", table(&rows)),
        ("targets", fmt::targets(&targets(&rows))),
    ];
    out.write(include_str!("loopback.md"), &values);
    let title = match quick {
        true => "tp0 end-to-end throughput (bets/s) — quick smoke run, one run each",
        false => "tp0 end-to-end throughput (bets/s), median of 3 runs",
    };
    let agencies = (1e6, "target: 1M bets/s with 50 agencies, durable");
    let batches = (2e6, "target: 2M bets/s, course ×20, durable, batch 120");
    let panels = [
        panel(&rows, Role::Agencies, agencies),
        panel(&rows, Role::Batches, batches),
    ];
    out.chart = Some(("benchmarks.png", render(title, (1400, 640), &panels)?));
    out.headline = headlines(&rows);
    Ok(out)
}
