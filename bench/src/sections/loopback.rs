//! The loopback section: the course dataset, it ×20 and generated data sets, durable and relaxed
//! at several batch sizes, each data set's loopback floor run alternately with tp0's runs; its
//! table, its targets, its notes and its chart.

use std::fmt::Write as _;

use crate::canvas::{categories, render, Line, LineChart, Point, BLUE, FAILED, MUTED, ORANGE};
use crate::fmt::{self, mib, num, thousands, times, Target};
use crate::harness::data::Source;
use crate::harness::measure::{measure, Plan, Status, Summary};
use crate::harness::memory::MIN_INTERVAL;
use crate::harness::run::{Pick, Settings, Sync};
use crate::section::{load_now, Env, Outcome, Section};

/// Repetitions of the course dataset in the "×20" data set.
pub const COURSE_REPEAT: u32 = 20;
/// The client's default batch size.
pub const DEFAULT_BATCH: u16 = 120;
/// The chart this section draws.
pub const CHART: &str = "benchmarks.png";

/// Where a data set appears in the chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// One category of the "against agencies" panel.
    Agencies,
    /// The "against batch size" panel.
    Batches,
    /// Only in the table.
    Table,
}

/// A configuration: its data set's id and place in the chart.
pub type Tag = (&'static str, Role);
/// A configuration's runs.
pub type Row = Summary<Tag>;

/// The loopback section.
pub struct Loopback;

/// One data set: tp0 at each sync setting and batch size, and the floor.
fn plan(
    id: &'static str,
    source: Source,
    label: String,
    batches: &[u16],
    role: Role,
    runs: usize,
) -> Plan<Tag> {
    let mut configs: Vec<(Tag, Settings)> = batches
        .iter()
        .flat_map(|&b| [Sync::Durable, Sync::Relaxed].map(|s| ((id, role), Settings::Tuned(s, b))))
        .collect();
    configs.push(((id, role), Settings::Floor));
    let big = id.starts_with("gen-10m");
    Plan {
        id,
        source,
        label,
        configs,
        runs,
        big,
    }
}

/// The plans; `course` false picks generated stand-ins of the course data.
fn plans(quick: bool, course: bool) -> Vec<Plan<Tag>> {
    let stand_in = if course {
        ""
    } else {
        " (generated stand-in: course dataset absent)"
    };
    let gen = |agencies, per_agency| Source::Generated {
        agencies,
        per_agency,
    };
    let (course_src, x20) = if course {
        (Source::Course, Source::CourseRepeated(COURSE_REPEAT))
    } else {
        (gen(5, 15_740), gen(5, 314_788))
    };
    if quick {
        return vec![
            plan(
                "course",
                course_src,
                format!("course{stand_in}"),
                &[30, DEFAULT_BATCH],
                Role::Batches,
                1,
            ),
            plan(
                "gen-200k-5",
                gen(5, 40_000),
                "generated 200k".into(),
                &[DEFAULT_BATCH],
                Role::Agencies,
                1,
            ),
            plan(
                "gen-200k-50",
                gen(50, 4_000),
                "generated 200k".into(),
                &[DEFAULT_BATCH],
                Role::Agencies,
                1,
            ),
        ];
    }
    let x20_label = format!("course ×{COURSE_REPEAT}{stand_in}");
    vec![
        plan(
            "course",
            course_src,
            format!("course{stand_in}"),
            &[DEFAULT_BATCH],
            Role::Table,
            3,
        ),
        plan(
            "course-x20",
            x20,
            x20_label,
            &[30, 60, DEFAULT_BATCH, 140],
            Role::Batches,
            3,
        ),
        plan(
            "gen-1m-5",
            gen(5, 200_000),
            "generated 1M".into(),
            &[DEFAULT_BATCH],
            Role::Agencies,
            3,
        ),
        plan(
            "gen-1m-50",
            gen(50, 20_000),
            "generated 1M".into(),
            &[DEFAULT_BATCH],
            Role::Agencies,
            3,
        ),
        plan(
            "gen-10m-5",
            gen(5, 2_000_000),
            "generated 10M".into(),
            &[DEFAULT_BATCH],
            Role::Table,
            1,
        ),
        plan(
            "gen-10m-50",
            gen(50, 200_000),
            "generated 10M".into(),
            &[DEFAULT_BATCH],
            Role::Table,
            1,
        ),
    ]
}

/// The configuration of a data set at a sync setting and batch size.
pub fn find<'a>(rows: &'a [Row], id: &str, sync: Sync, batch: u16) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.tag.0 == id && r.settings == Settings::Tuned(sync, batch))
}

/// The floor of a data set.
pub fn floor_of<'a>(rows: &'a [Row], id: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.tag.0 == id && r.settings == Settings::Floor && r.passed())
}

/// tp0's median over the floor's, same data.
fn ratio(rows: &[Row], row: &Row) -> Option<f64> {
    Some(row.e2e()? / floor_of(rows, row.tag.0)?.e2e()?.max(1e-9))
}

/// The results table: tp0's configurations, each beside its data set's floor.
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .filter_map(|r| {
            let Settings::Tuned(sync, batch) = r.settings else {
                return None;
            };
            let floor = floor_of(rows, r.tag.0).and_then(Summary::e2e);
            let mut cells = vec![r.label.clone(), r.agencies.to_string()];
            cells.push(if r.bets > 0 {
                thousands(r.bets)
            } else {
                "—".into()
            });
            cells.extend([sync.name().into(), batch.to_string()]);
            cells.extend(r.time_cells());
            cells.extend([
                num(floor, 3),
                times(ratio(rows, r)),
                num(r.median_of(|x| x.draw_us.map(|us| us as f64 / 1e3)), 2),
            ]);
            let picks: [Pick; 4] = [
                |x| x.rss_server,
                |x| x.rss_session,
                |x| x.rss_coordinator,
                |x| x.rss_client,
            ];
            cells.extend(picks.map(|p| mib(r.rss(p))));
            cells.push(r.status_cell());
            Some(cells)
        })
        .collect();
    fmt::table(
        "Data|Agencies|Bets|Sync|Batch|End to end (s)|Range (s)|Bets/s|Floor (s)|× floor|Draw (ms)|RSS parent|RSS session|RSS coordinator|RSS client|Result",
        "lrrlrrrrrrrrrrrl",
        &cells,
    )
}

/// A throughput target over some configurations.
fn rate_target(what: &str, min: f64, rows: Vec<&Row>) -> Target {
    if rows.is_empty() {
        return Target::skipped(what, "not run");
    }
    let worst = rows
        .iter()
        .filter_map(|s| s.rate())
        .fold(f64::INFINITY, f64::min);
    let measured: Vec<String> = rows
        .iter()
        .map(|s| {
            let rate = s.rate().filter(|_| s.passed());
            let rate = rate.map_or("FAILED".into(), |r| {
                format!("{} bets/s", thousands(r as u64))
            });
            format!("{} ({} bets): {rate}", s.label, thousands(s.bets))
        })
        .collect();
    let ok = rows.iter().all(|s| s.passed()) && worst >= min;
    Target::check(ok, format!("{what}: {}", measured.join("; ")))
}

/// The targets for the loopback runs.
pub fn targets(rows: &[Row]) -> Vec<Target> {
    let ran = |r: &&Row| !matches!(r.status, Status::Skipped(_));
    let durable = |id: &str| find(rows, id, Sync::Durable, DEFAULT_BATCH).filter(ran);
    let mut out = vec![rate_target(
        "≥ 2,000,000 bets/s, 5 agencies, course dataset ×20, durable, batch 120",
        2e6,
        durable("course-x20").into_iter().collect(),
    )];
    let fifty = rows.iter().filter(ran).filter(|s| {
        s.tag.0.starts_with("gen-")
            && s.agencies == 50
            && s.settings == Settings::Tuned(Sync::Durable, DEFAULT_BATCH)
    });
    out.push(rate_target(
        "≥ 1,000,000 bets/s, 50 agencies, generated data, durable, batch 120",
        1e6,
        fifty.collect(),
    ));
    let what = "course dataset end to end ≤ 0.25 s";
    out.push(match durable("course") {
        None => Target::skipped(what, "not run"),
        Some(s) => {
            let t = s.e2e().filter(|_| s.passed());
            let measured = t.map_or("FAILED".into(), |t| format!("{t:.3} s"));
            Target::check(
                t.is_some_and(|t| t <= 0.25),
                format!("{what} ({}, durable, batch 120): {measured}", s.label),
            )
        }
    });
    let tp0: Vec<&Row> = rows
        .iter()
        .filter(ran)
        .filter(|r| r.settings != Settings::Floor)
        .collect();
    let largest = |pick: Pick| tp0.iter().filter_map(|s| s.rss(pick)).max();
    let (session, client) = (largest(|r| r.rss_session), largest(|r| r.rss_client));
    let small = |v: Option<u64>| v.is_some_and(|kb| kb < 8 * 1024);
    out.push(Target::check(
        !tp0.is_empty() && small(session) && small(client),
        format!(
            "session child and client < 8 MiB RSS, every size: largest session {} MiB, largest client {} MiB",
            mib(session),
            mib(client)
        ),
    ));
    let big: Vec<&&Row> = tp0
        .iter()
        .filter(|s| s.tag.0.starts_with("gen-10m"))
        .collect();
    let coord = big
        .iter()
        .filter_map(|s| s.rss(|r| r.rss_coordinator))
        .max();
    let what = "coordinator < 16 MiB at 10 million bets";
    out.push(if big.is_empty() {
        Target::skipped(what, "not run")
    } else {
        Target::check(
            coord.is_some_and(|kb| kb < 16 * 1024),
            format!("{what}: largest {} MiB", mib(coord)),
        )
    });
    out
}

/// A headline row: tp0 at one configuration against its floor.
fn headline(rows: &[Row], id: &str, what: &str, target: &str) -> Option<[String; 5]> {
    let row = find(rows, id, Sync::Durable, DEFAULT_BATCH)?;
    let (t, floor) = (row.e2e()?, floor_of(rows, id)?.e2e()?);
    let rate = thousands(row.rate()? as u64);
    Some([
        format!(
            "Loopback: {what} ({} bets, {} agencies, durable, batch 120)",
            thousands(row.bets),
            row.agencies
        ),
        format!("{t:.3} s ({rate} bets/s)"),
        format!("{floor:.3} s"),
        times(ratio(rows, row)),
        target.into(),
    ])
}

/// A bets/s value as a short label: `1.6M`, `850K`.
fn short_rate(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.0}K", v / 1e3),
        v => format!("{v:.0}"),
    }
}

/// One panel: durable, relaxed and the floor in bets/s against `x` of each data set of `role`,
/// with the target; `x_ticks` labels the x axis.
fn panel<'a>(
    rows: &[Row],
    (role, x): (Role, &dyn Fn(&Row) -> f64),
    x_ticks: &'a dyn Fn(f64) -> String,
    target: (f64, &str),
    title: String,
) -> LineChart<'a> {
    let of = |sync: Sync| -> Vec<Point> {
        rows.iter()
            .filter(|r| r.tag.1 == role && r.settings == Settings::Tuned(sync, r.batch()))
            .filter_map(|r| {
                let ((lo, hi), mid) = (r.rate_range()?, r.rate()?);
                Some(Point {
                    x: x(r),
                    mid,
                    lo,
                    hi,
                    ok: r.passed(),
                    label: short_rate(mid),
                })
            })
            .collect()
    };
    let (durable, relaxed) = (of(Sync::Durable), of(Sync::Relaxed));
    let floors: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.tag.1 == role && r.settings == Settings::Tuned(Sync::Durable, r.batch()))
        .filter_map(|r| Some((x(r), floor_of(rows, r.tag.0)?.rate()?)))
        .collect();
    let span = [
        durable.first().map_or(0.0, |p| p.x),
        durable.last().map_or(1.0, |p| p.x),
    ];
    let lines = vec![
        Line::solid("durable (SYNC=true, fdatasync)".into(), BLUE, durable, true),
        Line::solid("relaxed (SYNC=false)".into(), ORANGE, relaxed, false),
        Line::dashed(
            "floor: the bytes over loopback, one fdatasync".into(),
            MUTED,
            floors,
        ),
        Line::dashed(target.1.into(), FAILED, span.map(|x| (x, target.0))),
    ];
    let x_axis = if role == Role::Agencies {
        "agencies (clients)"
    } else {
        "batch size (bets per batch)"
    };
    let axes = (
        x_axis,
        "bets/s (end to end); whiskers: slowest to fastest run",
    );
    LineChart {
        title,
        axes,
        ticks: (x_ticks, &short_rate),
        lines,
    }
}

/// The chart: throughput against agencies and against batch size, durable and relaxed, with
/// each data set's floor and the targets.
pub fn chart(rows: &[Row], quick: bool) -> Result<Vec<u8>, String> {
    let data = |role: Role| {
        let row = rows.iter().find(|r| r.tag.1 == role);
        row.map_or(String::new(), |r| {
            r.label.replace(
                " (generated stand-in: course dataset absent)",
                " (generated)",
            )
        })
    };
    let mut sizes: Vec<usize> = rows
        .iter()
        .filter(|r| r.tag.1 == Role::Agencies)
        .map(|r| r.agencies)
        .collect();
    sizes.dedup();
    let names: Vec<String> = sizes.iter().map(usize::to_string).collect();
    let at = |r: &Row| sizes.iter().position(|&n| n == r.agencies).unwrap_or(0) as f64;
    let (agency_ticks, batch_ticks) = (categories(&names), |x: f64| format!("{x:.0}"));
    let agencies = panel(
        rows,
        (Role::Agencies, &at),
        &agency_ticks,
        (1e6, "target: 1M bets/s with 50 agencies, durable"),
        format!(
            "vs agencies: {}, batch {DEFAULT_BATCH}",
            data(Role::Agencies)
        ),
    );
    let batch_agencies = rows
        .iter()
        .find(|r| r.tag.1 == Role::Batches)
        .map_or(0, |r| r.agencies);
    let batches = panel(
        rows,
        (Role::Batches, &|r: &Row| f64::from(r.batch())),
        &batch_ticks,
        (2e6, "target: 2M bets/s, course ×20, durable, batch 120"),
        format!(
            "vs batch size: {}, {batch_agencies} agencies",
            data(Role::Batches)
        ),
    );
    let title = if quick {
        "tp0 end-to-end throughput (bets/s) — quick smoke run, one run each"
    } else {
        "tp0 end-to-end throughput (bets/s), median of 3 runs"
    };
    render(title, (1400, 640), &[agencies, batches])
}

/// How the RSS sampler did over the runs.
fn sampler_note(rows: &[Row]) -> String {
    let runs = || {
        rows.iter()
            .filter(|r| r.settings != Settings::Floor)
            .flat_map(|s| s.runs.iter())
    };
    let sweeps = runs().map(|r| r.sweeps).min();
    let busy: f64 = runs().map(|r| r.sampler_busy.as_secs_f64()).sum();
    let measured: f64 = runs()
        .filter_map(|r| r.e2e)
        .map(|d| d.as_secs_f64())
        .sum::<f64>()
        .max(1e-9);
    format!(
        "RSS is measured from outside: while a run lasts, a thread of the bench reads `VmHWM` (the \
         kernel's peak resident set) from `/proc/<pid>/status` of the server, every process it \
         forks and every client, every {} ms (less often while one sweep takes over a tenth of \
         the pause; fewest sweeps in one run: {}). `VmHWM` starts afresh at exec and, at fork, at \
         the child's resident set then, so no process carries its launcher's peak; it is a \
         high-water mark, so only growth in a process's last interval before it exits could be \
         missed. The coordinator is the server child whose pid the server logs at \
         `start_coordinator`; every other server child is a session. The sampler thread used \
         {:.1} ms of CPU per second of run ({:.1}% of one core), CPU the runs could otherwise \
         have used.",
        MIN_INTERVAL.as_millis(),
        sweeps.map_or("none".into(), |n| n.to_string()),
        1000.0 * busy / measured,
        100.0 * busy / measured,
    )
}

impl Section for Loopback {
    fn name(&self) -> &'static str {
        "loopback"
    }

    fn run(&self, env: &Env<'_>) -> Result<Outcome, crate::harness::ctx::RunError> {
        let load_start = load_now();
        let plans = plans(env.quick, env.course.is_some());
        let mut notes = Vec::new();
        let rows = measure(env.ctx, &plans, (env.course_dir(), env.scratch), &mut notes)?;
        notes.push(sampler_note(&rows));
        notes.push(
            "Draw (ms) is the coordinator's own `draw_scan` time (logged in µs): the coordinator \
             reads the bets file as it grows, so at the barrier it scans only the tail."
                .into(),
        );
        let targets = targets(&rows);
        let (targets_md, targets_text) = fmt::targets(&targets);
        let mut md = String::from("## Results\n\n");
        let _ = writeln!(
            md,
            "The real `server` and one real `client` per agency on 127.0.0.1. End to end = from the \
             first client's start to the last client's exit (upload, draw and winners query \
             included); bets/s = bets / end to end; draw = the coordinator's `draw_scan` time; RSS = \
             peak resident set (MiB), the `VmHWM` the bench reads from `/proc/<pid>/status` of every \
             process of the run — the parent server, the largest session child, the coordinator, \
             the largest client. {}\n\n**Floor** = the same agency files' bytes sent over loopback \
             TCP, one connection per agency as tp0 does, to a receiver in the bench that appends \
             them to one file and calls `fdatasync` once at the end, from the first connection to \
             that `fdatasync` (`bench/src/harness/floor.rs`): no parsing, no validation, no \
             acknowledgements. It runs in turn with tp0's configurations of the same data; × floor = \
             tp0's median / the floor's median.\n",
            if env.quick {
                "Each configuration ran once."
            } else {
                "Each configuration ran 3 times (the 10-million-bet ones once); times are medians \
                 (Range: fastest and slowest run), RSS the maximum over the runs."
            }
        );
        md.push_str(&table(&rows));
        let _ = writeln!(
            md,
            "\n![Throughput against agencies and batch size, durable vs relaxed, with the floor]({CHART})\n"
        );
        let _ = writeln!(md, "Targets:\n\n{targets_md}");
        for r in &rows {
            if let Some(reasons) = r.status.failure_text() {
                let _ = writeln!(
                    md,
                    "- FAILED: {} / {} agencies / {}: {reasons}",
                    r.label,
                    r.agencies,
                    r.settings.describe()
                );
            }
            if let Status::Skipped(reason) = &r.status {
                let _ = writeln!(
                    md,
                    "- SKIPPED: {} / {}: {reason}",
                    r.label,
                    r.settings.describe()
                );
            }
        }
        md.push('\n');
        md.push_str(&env.stamp(&load_start, self.name()));
        let chart = chart(&rows, env.quick).map_err(crate::harness::ctx::RunError::Fail)?;
        let headline = [
            headline(&rows, "course-x20", "course ×20", "≥ 2,000,000 bets/s"),
            headline(&rows, "course", "course", "≤ 0.25 s"),
            headline(&rows, "gen-10m-50", "generated 10M", "≥ 1,000,000 bets/s"),
        ];
        Ok(Outcome {
            body: md,
            charts: vec![(CHART, chart)],
            console: format!("{}\n{targets_text}", table(&rows)),
            headline: headline.into_iter().flatten().collect(),
            notes,
            passed: !rows.iter().any(|r| matches!(r.status, Status::Failed(_))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_an_empty_chart() {
        assert_eq!(
            (short_rate(2_445_916.0), short_rate(850_400.0)),
            ("2.45M".into(), "850K".into())
        );
        assert!(chart(&[], true).is_ok_and(|png| png.starts_with(b"\x89PNG")));
    }

    #[test]
    fn every_data_set_has_its_floor() {
        for quick in [false, true] {
            for p in plans(quick, true) {
                assert_eq!(
                    p.configs
                        .iter()
                        .filter(|(_, s)| *s == Settings::Floor)
                        .count(),
                    1
                );
            }
        }
    }
}
