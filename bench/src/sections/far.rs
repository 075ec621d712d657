//! The "Agencies far away" section: each agency behind its own long-distance link (the user-space
//! emulator of [`crate::harness::link`]), tp0 as shipped beside tp0 configured stop-and-wait (one
//! batch of 100 in flight), in the same run, so the table shows what pipelining buys; each mode
//! beside its floor (the link's rate for shipped, a round trip per batch for stop-and-wait).

use std::fmt::Write as _;
use std::time::Duration;

use plotters::style::RGBColor;

use crate::canvas::{render, Line, LineChart, Point, BLUE, MUTED, ORANGE};
use crate::fmt::{self, thousands};
use crate::harness::ctx::RunError;
use crate::harness::data::Source;
use crate::harness::link::{Spec, BUFFER};
use crate::harness::measure::{measure, Plan, Status, Summary};
use crate::harness::run::Settings;
use crate::section::{load_now, Env, Outcome, Section};

/// The section's chart, next to the report.
pub const CHART: &str = "benchmarks-far.png";
/// Every emulated link's rate, each direction: 4 MB/s (32 Mbit/s).
pub const RATE: u64 = 4_000_000;
/// The round trip the issue asks about.
pub const FAR_RTT: Duration = Duration::from_millis(50);
/// The round trips the course data runs at (besides loopback without the emulator).
pub const SWEEP_MS: [u64; 4] = [0, 10, 25, 50];
/// Agencies and bets of the many-agency point (generated data).
pub const MANY: (u32, u64) = (50, 1_000);
/// Runs of each configuration (medians and ranges).
pub const RUNS: usize = 3;

/// How the clients upload: a name, the batch and window, the batch size, what each client is
/// told beyond its id, address and file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode(
    &'static str,
    &'static str,
    u16,
    &'static [(&'static str, &'static str)],
);

/// The shipped defaults: batches of 120, up to 64 of them in flight.
pub const SHIPPED: Mode = Mode("shipped", "batch 120, window 64", 120, &[]);
/// One batch of 100 in flight, the next only after the last's acknowledgement.
pub const STOP_AND_WAIT: Mode = Mode(
    "stop-and-wait",
    "batch 100, window 1",
    100,
    &[("CLI_BATCH_MAXAMOUNT", "100"), ("CLI_BATCH_WINDOW", "1")],
);

impl Mode {
    /// For tables and the chart: `shipped (batch 120, window 64)`.
    fn label(self) -> String {
        format!("{} ({})", self.0, self.1)
    }
}

/// Batches of [`STOP_AND_WAIT`] for `bets`.
fn batches(bets: u64) -> u64 {
    bets.div_ceil(u64::from(STOP_AND_WAIT.2))
}

/// A link of round trip `rtt_ms` at [`RATE`].
pub fn far_link(rtt_ms: u64) -> Spec {
    Spec {
        delay: Duration::from_millis(rtt_ms) / 2,
        rate: RATE,
    }
}

/// A link for tables: `RTT 50 ms, 4 MB/s`, or loopback.
pub fn link_name(link: Option<Spec>) -> String {
    match link {
        None => "none (loopback)".into(),
        Some(spec) => format!(
            "RTT {} ms, {} MB/s",
            spec.rtt().as_millis(),
            spec.rate as f64 / 1e6
        ),
    }
}

/// A row's tag: its link (`None`: loopback, no emulator) and how the clients upload.
pub type Tag = (Option<Spec>, Mode);
/// One row of the section: a data set, a link, a mode, and its runs.
pub type Row = Summary<Tag>;

/// The far section.
pub struct Far;

/// What the section runs: the course dataset (or its generated stand-in) at every round trip of
/// the sweep and on loopback, and many small agencies far away; in `--quick`, five small
/// generated agencies at the far round trip and on loopback. Shipped and stop-and-wait
/// alternate at every link.
pub fn plans(quick: bool, course: bool) -> Vec<Plan<Tag>> {
    let far = Some(far_link(FAR_RTT.as_millis() as u64));
    let plan = |id, source, label: &str, links: Vec<Option<Spec>>, runs| Plan {
        id,
        source,
        label: label.into(),
        configs: links
            .into_iter()
            .flat_map(|link| {
                [SHIPPED, STOP_AND_WAIT].map(|mode| {
                    (
                        (link, mode),
                        Settings::Far {
                            link,
                            client_env: mode.3,
                        },
                    )
                })
            })
            .collect(),
        runs,
        big: false,
    };
    let generated = |agencies, per_agency| Source::Generated {
        agencies,
        per_agency,
    };
    if quick {
        return vec![plan(
            "far",
            generated(5, 1_000),
            "generated, 1,000 bets per agency",
            vec![None, far],
            1,
        )];
    }
    let (source, label) = if course {
        (Source::Course, "course")
    } else {
        (
            generated(5, 15_740),
            "generated stand-in (course dataset absent)",
        )
    };
    let mut links = vec![None];
    links.extend(SWEEP_MS.iter().map(|&ms| Some(far_link(ms))));
    vec![
        plan("far-course", source, label, links, RUNS),
        plan(
            "far-many",
            generated(MANY.0, MANY.1),
            "generated, 1,000 bets per agency",
            vec![far],
            RUNS,
        ),
    ]
}

/// The row of the same data and link in the other mode.
fn partner<'a>(rows: &'a [Row], row: &Row) -> Option<&'a Row> {
    rows.iter().find(|r| {
        r.tag.0 == row.tag.0
            && r.tag.1 != row.tag.1
            && r.label == row.label
            && r.agencies == row.agencies
    })
}

/// Median time of stop-and-wait over median time shipped, same data and link.
fn speed_up(rows: &[Row], row: &Row) -> Option<f64> {
    let other = partner(rows, row)?;
    let (shipped, saw) = if row.tag.1 == SHIPPED {
        (row, other)
    } else {
        (other, row)
    };
    if !shipped.passed() || !saw.passed() {
        return None;
    }
    Some(saw.e2e()? / shipped.e2e()?.max(1e-9))
}

/// A row's floor in seconds: shipped, its largest file at the link's rate plus the round trip
/// of the handshake; stop-and-wait, a round trip per batch. `None` on loopback.
fn floor(row: &Row) -> Option<f64> {
    let link = row.tag.0?;
    let rtt = link.rtt().as_secs_f64();
    Some(if row.tag.1 == SHIPPED {
        row.largest_bytes as f64 / link.rate as f64 + rtt
    } else {
        batches(row.largest) as f64 * rtt
    })
}

/// The section's table.
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut c = vec![r.tag.1.label(), link_name(r.tag.0), r.label.clone()];
            c.extend([thousands(r.agencies as u64), thousands(r.bets)]);
            c.extend(r.time_cells());
            c.push(fmt::num(floor(r), 3));
            c.push(fmt::times(
                r.e2e().zip(floor(r)).map(|(t, f)| t / f.max(1e-9)),
            ));
            c.push(match speed_up(rows, r) {
                Some(x) if r.tag.1 == SHIPPED => format!("**×{x:.1}**"),
                Some(_) => "(the baseline)".into(),
                None => "—".into(),
            });
            c.push(r.status_cell());
            c
        })
        .collect();
    fmt::table(
        "Mode|Link|Data|Agencies|Bets|End to end (s)|Range (s)|Bets/s|Floor (s)|× floor|Speed-up (shipped over stop-and-wait)|Result",
        "lllrrrrrrrrl",
        &cells,
    )
}

/// What the rows say, in sentences: the far round trip with the first data set (the course's)
/// and why each mode takes what it takes, loopback, and the many small agencies.
fn findings(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    let far = Some(far_link(FAR_RTT.as_millis() as u64));
    let Some(first) = rows.first() else {
        return out;
    };
    let same_data = |r: &&Row| r.label == first.label && r.agencies == first.agencies;
    let shipped_at = |link| {
        rows.iter()
            .filter(same_data)
            .find(|r| r.tag.0 == link && r.tag.1 == SHIPPED)
    };
    if let Some(shipped) = shipped_at(far) {
        if let (Some(x), Some(ts), Some(tw)) = (
            speed_up(rows, shipped),
            shipped.e2e(),
            partner(rows, shipped).and_then(Summary::e2e),
        ) {
            out.push(format!(
                "**Behind links of {}, {} agencies sending {} bets ({}) take {ts:.2} s as \
                 shipped and {tw:.2} s stop-and-wait: shipped is {x:.1} times faster.**",
                link_name(far),
                shipped.agencies,
                thousands(shipped.bets),
                shipped.label,
            ));
        }
        let rtt = FAR_RTT.as_secs_f64();
        let batches = batches(shipped.largest);
        let mut saw: Vec<(f64, f64)> = rows
            .iter()
            .filter(same_data)
            .filter(|r| r.tag.1 == STOP_AND_WAIT && r.passed())
            .filter_map(|r| Some((r.tag.0?.rtt().as_secs_f64() * 1e3, r.e2e()?)))
            .collect();
        saw.sort_by(|a, b| a.0.total_cmp(&b.0));
        let slope = match (saw.first(), saw.last()) {
            (Some(lo), Some(hi)) if hi.0 > lo.0 => format!(
                "; from {:.0} to {:.0} ms its time grows by {:.3} s per ms of round trip, the \
                 floor's by {:.3}",
                lo.0,
                hi.0,
                (hi.1 - lo.1) / (hi.0 - lo.0),
                batches as f64 / 1e3
            ),
            _ => String::new(),
        };
        out.push(format!(
            "Stop-and-wait pays at least one round trip per batch: the largest agency's {} bets \
             are {} batches of 100, {:.2} s at {} ms, before connecting, HELLO, END and the \
             winners query add a round trip each{slope}.",
            thousands(shipped.largest),
            thousands(batches),
            batches as f64 * rtt,
            FAR_RTT.as_millis(),
        ));
        let per_bet = shipped.largest_bytes as f64 / shipped.largest.max(1) as f64;
        out.push(format!(
            "As shipped, 64 batches of 120 (about {:.0} kB, at the {per_bet:.0} bytes per bet of \
             this data's files) may be in the air, more than the {:.0} kB the link holds in flight \
             (rate × round trip), so the rate bounds it: the largest agency's file, {:.2} MB, \
             takes {:.2} s at {} MB/s, plus a few round trips.",
            64.0 * f64::from(SHIPPED.2) * per_bet / 1e3,
            RATE as f64 * rtt / 1e3,
            shipped.largest_bytes as f64 / 1e6,
            shipped.largest_bytes as f64 / RATE as f64,
            RATE as f64 / 1e6,
        ));
    }
    if let Some(x) = shipped_at(None).and_then(|r| speed_up(rows, r)) {
        out.push(format!(
            "Even on loopback, without the emulator, stop-and-wait takes {x:.1} times as long: \
             each batch waits for its acknowledgement, which the durable server sends only after \
             `fdatasync`."
        ));
    }
    let many = rows
        .iter()
        .find(|r| r.tag.1 == SHIPPED && r.agencies == MANY.0 as usize);
    if let Some((many, x)) = many.and_then(|r| Some((r, speed_up(rows, r)?))) {
        out.push(format!(
            "With {} agencies of {} bets ({} batches of 100 each) at {}, shipped is {x:.1} times \
             faster: there is little to pipeline, and the round trips both modes pay (connecting, \
             HELLO, END, the winners) weigh more.",
            many.agencies,
            thousands(many.largest),
            batches(many.largest),
            link_name(many.tag.0),
        ));
    }
    out
}

/// The chart: end to end against the round trip for the course data (the first data set),
/// shipped and stop-and-wait with each one's fastest and slowest run and the speed-up, and both
/// floors.
pub fn chart(rows: &[Row]) -> Result<Vec<u8>, String> {
    let first = rows.first();
    let same = |r: &&Row| first.is_some_and(|f| r.label == f.label && r.agencies == f.agencies);
    let rtt = |r: &Row| r.tag.0.map(|l| l.rtt().as_secs_f64() * 1e3);
    let of = |mode: Mode| -> Vec<&Row> {
        let mut v: Vec<&Row> = rows
            .iter()
            .filter(same)
            .filter(|r| r.tag.1 == mode && r.tag.0.is_some())
            .collect();
        v.sort_by_key(|r| r.tag.0.map(|l| l.rtt()));
        v
    };
    let points = |mode: Mode| -> Vec<Point> {
        of(mode)
            .into_iter()
            .filter_map(|r| {
                let ((lo, hi), mid) = (r.e2e_range()?, r.e2e()?);
                let x = speed_up(rows, r).filter(|_| mode == SHIPPED);
                let x = x.map_or(String::new(), |x| {
                    format!(" (×{x:.0$})", usize::from(x < 10.0))
                });
                let label = format!("{mid:.2} s{x}{}", if r.passed() { "" } else { " FAILED" });
                Some(Point {
                    x: rtt(r)?,
                    mid,
                    lo,
                    hi,
                    ok: r.passed(),
                    label,
                })
            })
            .collect()
    };
    let floors = |mode: Mode| {
        of(mode)
            .into_iter()
            .filter_map(|r| Some((rtt(r)?, floor(r)?)))
            .collect::<Vec<_>>()
    };
    let batches = first.map_or(0, |r| batches(r.largest));
    let lines = vec![
        Line::dashed(
            format!("stop-and-wait floor: one round trip per batch ({batches} batches of 100, largest agency)"),
            MUTED,
            floors(STOP_AND_WAIT),
        ),
        Line::dashed(
            "shipped floor: the largest agency's file at the link's rate, plus one round trip".into(),
            RGBColor(120, 170, 210),
            floors(SHIPPED),
        ),
        Line::solid(SHIPPED.label(), BLUE, points(SHIPPED), false),
        Line::solid(STOP_AND_WAIT.label(), ORANGE, points(STOP_AND_WAIT), true),
    ];
    let data = first.map_or(String::new(), |r| {
        format!("{}, {} agencies", r.label, r.agencies)
    });
    let chart = LineChart {
        title: format!(
            "tp0, agencies far away: end to end against the round trip ({} MB/s links; {data})",
            RATE as f64 / 1e6
        ),
        axes: (
            "round trip of each agency's link (ms)",
            "end to end (s), median; bars: fastest to slowest run",
        ),
        ticks: (&|x| format!("{x:.0}"), &|y| format!("{y:.0}")),
        lines,
    };
    render("", (1000, 580), &[chart])
}

impl Section for Far {
    fn name(&self) -> &'static str {
        "far"
    }

    fn run(&self, env: &Env<'_>) -> Result<Outcome, RunError> {
        let load_start = load_now();
        let (quick, runs) = (env.quick, if env.quick { 1 } else { RUNS });
        let mut notes = Vec::new();
        let plans = plans(quick, env.course.is_some());
        let rows = measure(env.ctx, &plans, (env.course_dir(), env.scratch), &mut notes)?;
        let mut md = String::from("## Agencies far away\n\n");
        let sweep: Vec<String> = SWEEP_MS.iter().map(u64::to_string).collect();
        let _ = writeln!(
        md,
        "Each agency behind its own long-distance link, emulated in user space by the bench (this \
         machine's kernel has no `netem`; see The link below), and the same data sent two ways in \
         the same run: **tp0 as shipped** (the client's defaults: batches of 120, up to 64 of \
         them in flight) and **stop-and-wait** (`CLI_BATCH_MAXAMOUNT=100 CLI_BATCH_WINDOW=1`: \
         one batch of 100 in flight, the next sent only once the server has acknowledged the \
         last, as the statement's protocols do). The server is the shipped one (told only \
         `SERVER_PORT=0`, `AGENCIES` and `BETS_FILE`: `SYNC=true`, default logs). {} \
         {}Speed-up = stop-and-wait's median time / shipped's, same data and link. Every run is \
         checked as in Correctness below. Floor: for shipped, the largest agency's file at the link's rate plus one round trip (the emulated handshake), for stop-and-wait one round trip per batch of the largest agency; × floor = median / floor. No target: this section reports.\n",
        if quick {
            "Five agencies of 1,000 generated bets, on loopback and far away.".to_string()
        } else {
            format!(
                "The course dataset runs behind links of {} MB/s each way at round trips of {} \
                 ms, and straight to the server on loopback (no emulator); {} agencies of {} \
                 generated bets run at {} ms.",
                RATE as f64 / 1e6,
                sweep.join(", "),
                MANY.0,
                thousands(MANY.1),
                FAR_RTT.as_millis()
            )
        },
        if runs > 1 {
            format!(
                "Each configuration ran {runs} times: medians, Range the fastest and slowest run. "
            )
        } else {
            "Each configuration ran once. ".into()
        }
    );
        let findings = findings(&rows);
        if !findings.is_empty() {
            let _ = writeln!(md, "{}\n", findings.join(" "));
        }
        md.push_str(&table(&rows));
        let _ = writeln!(
            md,
            "\n![End to end against the round trip, shipped and stop-and-wait]({CHART})\n"
        );
        for row in &rows {
            if let Some(reasons) = row.status.failure_text() {
                let _ = writeln!(
                    md,
                    "- FAILED: {}, {}, {}: {}",
                    row.label,
                    link_name(row.tag.0),
                    row.tag.1 .0,
                    reasons
                );
            }
        }
        let _ = writeln!(
            md,
            "**The link** (`bench/src/harness/link.rs`): one TCP proxy per agency on 127.0.0.1, whose port \
         the client is given as `CLI_SERVER_ADDRESS`. For each connection it accepts it opens one \
         to the server and forwards both directions, each through a queue between two threads: \
         a reader stamps every chunk it reads with its release time, a writer sleeps until then \
         and writes it on. Bytes read at time t leave no earlier than t + half the round trip, \
         once a serialization clock (one per direction and link) has let them out at the rate, \
         in order; the queue holds what the link has in flight (rate × one-way delay) plus {} \
         KiB, beyond which the sender waits, as behind a bottleneck's full buffer. A half-close \
         (the client's EOF after END, the server's close) crosses after the last byte and is \
         delayed like it; an error on either side shuts both connections down. A connection's \
         first bytes wait one round trip more, standing in for the TCP handshake that costs \
         nothing on loopback. Its limits: it is user space, so its timing rides on the bench's \
         threads being scheduled (a sleep overshoots by tens of µs, more on a loaded machine); \
         it has no loss, no jitter and no reordering, so TCP never backs off; both kernels' \
         loopback socket buffers come on top of the emulated link's queue. Its unit tests check \
         the round trip (≥ 2 × the one-way delay per ping-pong), the rate (N bytes take ≥ N / \
         rate), byte-exact order both ways under backpressure, and EOF in both directions.\n",
            BUFFER / 1024
        );
        md.push_str(&env.stamp(&load_start, self.name()));
        let far = Some(far_link(FAR_RTT.as_millis() as u64));
        let headline = rows.iter().find(|r| r.tag == (far, SHIPPED)).and_then(|r| {
            let (t, f) = (r.e2e()?, floor(r)?);
            Some([
                format!(
                    "Far away: {}, {} ({} agencies), as shipped",
                    link_name(far),
                    r.label,
                    r.agencies
                ),
                format!("{t:.3} s"),
                format!("{f:.3} s"),
                fmt::times(Some(t / f.max(1e-9))),
                "— (reported)".into(),
            ])
        });
        Ok(Outcome {
            body: md,
            charts: vec![(CHART, chart(&rows).map_err(RunError::Fail)?)],
            console: table(&rows),
            headline: headline.into_iter().collect(),
            notes,
            passed: !rows.iter().any(|r| matches!(r.status, Status::Failed(_))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::run::RunResult;

    /// Rows as a full run might give: the course at 50 ms and on loopback, 50 agencies far away.
    fn rows() -> Vec<Row> {
        let row = |link: Option<u64>, mode: Mode, agencies: usize, largest: u64, t: f64| Row {
            tag: (link.map(far_link), mode),
            settings: Settings::Far {
                link: link.map(far_link),
                client_env: mode.3,
            },
            label: if agencies == 5 { "course" } else { "generated" }.into(),
            agencies,
            bets: if agencies == 5 { 78_697 } else { 50_000 },
            largest,
            largest_bytes: largest * 46,
            runs: [0.99, 1.0, 1.02]
                .map(|k| RunResult {
                    e2e: Some(Duration::from_secs_f64(t * k)),
                    ..RunResult::default()
                })
                .into(),
            status: Status::Pass,
        };
        vec![
            row(None, SHIPPED, 5, 26_936, 0.05),
            row(None, STOP_AND_WAIT, 5, 26_936, 0.26),
            row(Some(0), SHIPPED, 5, 26_936, 0.32),
            row(Some(0), STOP_AND_WAIT, 5, 26_936, 0.55),
            row(Some(50), SHIPPED, 5, 26_936, 0.52),
            row(Some(50), STOP_AND_WAIT, 5, 26_936, 14.46),
            row(Some(50), SHIPPED, 50, 1_000, 0.40),
            row(Some(50), STOP_AND_WAIT, 50, 1_000, 0.90),
        ]
    }

    #[test]
    fn the_text_table_and_chart_say_what_the_rows_say() {
        let rows = rows();
        let text = findings(&rows).join(" ");
        assert!(
            text.contains(
                "5 agencies sending 78,697 bets (course) take 0.52 s as shipped and 14.46 s"
            ),
            "{text}"
        );
        assert!(
            text.contains("shipped is 27.8 times faster")
                && text.contains("are 270 batches of 100, 13.50 s at 50 ms")
        );
        assert!(
            text.contains("Even on loopback, without the emulator, stop-and-wait takes 5.2 times")
        );
        let table = table(&rows);
        assert!(
            table.contains("| **×27.8** |") && table.contains("| 13.500 | ×1.1 |"),
            "{table}"
        );
        assert_eq!(table.matches("| PASS (3/3) |").count(), rows.len());
        assert!(chart(&rows).is_ok_and(|png| png.starts_with(b"\x89PNG")) && chart(&[]).is_ok());
        assert_eq!(
            plans(false, true)[0].configs.len(),
            2 * (SWEEP_MS.len() + 1)
        );
    }
}
