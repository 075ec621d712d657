//! The "Agencies far away" section: each agency behind its own long-distance link (the user-space
//! emulator of [`crate::harness::link`]), tp0 as shipped beside tp0 configured stop-and-wait (one
//! batch of 100 in flight), in the same run, so the table shows what pipelining buys; each mode
//! beside its floor (the link's rate for shipped, a round trip per batch for stop-and-wait).

use std::time::Duration;

use plotters::style::RGBColor;

use crate::canvas::{render, Line, LineChart, Point, BLUE, GREY, ORANGE};
use crate::fmt::{self, thousands, times};
use crate::harness::ctx::RunError;
use crate::harness::data::Source;
use crate::harness::link::{Spec, BUFFER};
use crate::harness::measure::{all_passed, measure, problems, Plan, Summary};
use crate::harness::run::Settings;
use crate::section::{chart, load_now, Env, Outcome, Section};

/// The section's chart, next to the report.
const CHART: &str = "benchmarks-far.png";
/// Every emulated link's rate, each direction: 4 MB/s (32 Mbit/s).
const RATE: u64 = 4_000_000;
/// The round trip the issue asks about, in ms.
const FAR_MS: u64 = 50;
/// The round trips the course data runs at (besides loopback without the emulator).
const SWEEP_MS: [u64; 4] = [0, 10, 25, 50];
/// Agencies and bets of the many-agency point (generated data).
const MANY: (u32, u64) = (50, 1_000);

/// How the clients upload: a name, the batch and window, the batch size, what each client is
/// told beyond its id, address and file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mode(
    &'static str,
    &'static str,
    u16,
    &'static [(&'static str, &'static str)],
);

/// The shipped defaults: batches of 120, up to 64 of them in flight.
const SHIPPED: Mode = Mode("shipped", "batch 120, window 64", 120, &[]);
/// One batch of 100 in flight, the next only after the last's acknowledgement.
const STOP_AND_WAIT: Mode = Mode(
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
fn far_link(rtt_ms: u64) -> Option<Spec> {
    Some(Spec {
        delay: Duration::from_millis(rtt_ms) / 2,
        rate: RATE,
    })
}

/// A link for tables: `RTT 50 ms, 4 MB/s`, or loopback.
fn link_name(link: Option<Spec>) -> String {
    link.map_or("none (loopback)".into(), |l| {
        format!(
            "RTT {} ms, {} MB/s",
            l.rtt().as_millis(),
            l.rate as f64 / 1e6
        )
    })
}

/// A row's link (`None`: loopback, no emulator) and how the clients upload.
type Tag = (Option<Spec>, Mode);
/// One row of the section: a data set, a link, a mode, and its runs.
type Row = Summary<Tag>;

/// The far section.
pub struct Far;

/// The course dataset (or its generated stand-in) at every round trip of the sweep and on
/// loopback, and many small agencies far away; in `--quick`, five small generated agencies at
/// the far round trip and on loopback. Shipped and stop-and-wait alternate at every link.
fn plans(quick: bool, course: bool) -> Vec<Plan<Tag>> {
    let plan = |id, source, label: &str, links: Vec<Option<Spec>>, runs| {
        let modes = links
            .into_iter()
            .flat_map(|l| [SHIPPED, STOP_AND_WAIT].map(|m| ((l, m), Settings::Far(l, m.3))));
        Plan {
            id,
            source,
            label: label.into(),
            configs: modes.collect(),
            runs,
            big: false,
        }
    };
    let generated = "generated, 1,000 bets per agency";
    if quick {
        return vec![plan(
            "far",
            Source::Generated(5, 1_000),
            generated,
            vec![None, far_link(FAR_MS)],
            1,
        )];
    }
    let (source, label) = match course {
        true => (Source::Course, "course"),
        false => (
            Source::Generated(5, 15_740),
            "generated stand-in (course dataset absent)",
        ),
    };
    let links = [None].into_iter().chain(SWEEP_MS.map(far_link)).collect();
    vec![
        plan("far-course", source, label, links, 3),
        plan(
            "far-many",
            Source::Generated(MANY.0, MANY.1),
            generated,
            vec![far_link(FAR_MS)],
            3,
        ),
    ]
}

/// The row of the same data and link in the other mode.
fn partner<'a>(rows: &'a [Row], row: &Row) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.id == row.id && r.tag.0 == row.tag.0 && r.tag.1 != row.tag.1)
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
    let (link, (bets, bytes)) = (row.tag.0?, row.largest);
    let rtt = link.rtt().as_secs_f64();
    Some(match row.tag.1 == SHIPPED {
        true => bytes as f64 / link.rate as f64 + rtt,
        false => batches(bets) as f64 * rtt,
    })
}

/// The section's table.
fn table(rows: &[Row]) -> String {
    let cells = rows.iter().map(|r| {
        let mut c = vec![r.tag.1.label(), link_name(r.tag.0), r.label.clone()];
        c.extend([thousands(r.agencies as u64), thousands(r.bets)]);
        c.extend(r.time_cells());
        let over = r
            .e2e()
            .zip(floor(r).filter(|f| *f > 0.0))
            .map(|(t, f)| t / f);
        c.extend([fmt::num(floor(r), 3), times(over)]);
        c.push(match speed_up(rows, r) {
            Some(x) if r.tag.1 == SHIPPED => format!("**×{x:.1}**"),
            Some(_) => "(the baseline)".into(),
            None => "—".into(),
        });
        c.push(r.status_cell());
        c
    });
    fmt::table(
        "Mode|Link|Data|Agencies|Bets|End to end (s)|Range (s)|Bets/s|Floor (s)|× floor|Speed-up (shipped over stop-and-wait)|Result",
        "lllrrrrrrrrl",
        &cells.collect::<Vec<_>>(),
    )
}

/// What the rows say, in sentences: the far round trip with the first data set (the course's)
/// and why each mode takes what it takes, loopback, and the many small agencies.
fn findings(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let shipped_at = |link| {
        rows.iter()
            .find(|r| r.id == first.id && r.tag == (link, SHIPPED))
    };
    let mut out = Vec::new();
    if let Some(shipped) = shipped_at(far_link(FAR_MS)) {
        let saw = partner(rows, shipped).and_then(Summary::e2e);
        if let (Some(x), Some(ts), Some(tw)) = (speed_up(rows, shipped), shipped.e2e(), saw) {
            out.push(format!(
                "**Behind links of {}, {} agencies sending {} bets ({}) take {ts:.2} s as \
                 shipped and {tw:.2} s stop-and-wait: shipped is {x:.1} times faster.**",
                link_name(shipped.tag.0),
                shipped.agencies,
                thousands(shipped.bets),
                shipped.label,
            ));
        }
        let ((bets, bytes), rtt) = (shipped.largest, FAR_MS as f64 / 1e3);
        let mut saw: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.id == first.id && r.tag.1 == STOP_AND_WAIT && r.passed())
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
                batches(bets) as f64 / 1e3
            ),
            _ => String::new(),
        };
        out.push(format!(
            "Stop-and-wait pays at least one round trip per batch: the largest agency's {} bets \
             are {} batches of 100, {:.2} s at {FAR_MS} ms, before connecting, HELLO, END and \
             the winners query add a round trip each{slope}.",
            thousands(bets),
            thousands(batches(bets)),
            batches(bets) as f64 * rtt,
        ));
        let per_bet = bytes as f64 / bets.max(1) as f64;
        out.push(format!(
            "As shipped, 64 batches of 120 (about {:.0} kB, at the {per_bet:.0} bytes per bet of \
             this data's files) may be in the air, more than the {:.0} kB the link holds in flight \
             (rate × round trip), so the rate bounds it: the largest agency's file, {:.2} MB, \
             takes {:.2} s at {} MB/s, plus a few round trips.",
            64.0 * f64::from(SHIPPED.2) * per_bet / 1e3,
            RATE as f64 * rtt / 1e3,
            bytes as f64 / 1e6,
            bytes as f64 / RATE as f64,
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
            thousands(many.largest.0),
            batches(many.largest.0),
            link_name(many.tag.0),
        ));
    }
    out.join(" ")
}

/// The chart: end to end against the round trip for the first data set (the course's), shipped
/// and stop-and-wait with each one's fastest and slowest run and the speed-up, and both floors.
fn draw(rows: &[Row]) -> Result<Vec<u8>, String> {
    let first = rows.first();
    let rtt = |r: &Row| Some(r.tag.0?.rtt().as_secs_f64() * 1e3);
    let of = |mode: Mode| {
        let mut v: Vec<&Row> = rows
            .iter()
            .filter(|r| first.is_some_and(|f| f.id == r.id) && r.tag.1 == mode && r.tag.0.is_some())
            .collect();
        v.sort_by_key(|r| r.tag.0.map(|l| l.rtt()));
        v
    };
    let points = |mode: Mode| {
        let point = |r: &&Row| {
            let x = speed_up(rows, r).filter(|_| mode == SHIPPED);
            let x = x.map_or(String::new(), |x| {
                format!(" (×{x:.0$})", usize::from(x < 10.0))
            });
            let label = format!(
                "{:.2} s{x}{}",
                r.e2e()?,
                if r.passed() { "" } else { " FAILED" }
            );
            Some(Point(rtt(r)?, r.e2e()?, r.e2e_range()?, r.passed(), label))
        };
        of(mode).iter().filter_map(point).collect()
    };
    let floors = |mode: Mode| {
        of(mode)
            .into_iter()
            .filter_map(|r| Some((rtt(r)?, floor(r)?)))
            .collect::<Vec<_>>()
    };
    let batches = first.map_or(0, |r| batches(r.largest.0));
    let lines = vec![
        Line::dashed(format!("stop-and-wait floor: one round trip per batch ({batches} batches of 100, largest agency)"), GREY, floors(STOP_AND_WAIT)),
        Line::dashed("shipped floor: the largest agency's file at the link's rate, plus one round trip".into(), RGBColor(120, 170, 210), floors(SHIPPED)),
        Line(SHIPPED.label(), BLUE, points(SHIPPED), false, false),
        Line(STOP_AND_WAIT.label(), ORANGE, points(STOP_AND_WAIT), true, false),
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
        let mut notes = Vec::new();
        let rows = measure(
            env.ctx,
            &plans(env.quick, env.course.is_some()),
            env.dirs(),
            &mut notes,
        )?;
        let (data, runs) = match env.quick {
            true => (
                "Five agencies of 1,000 generated bets, on loopback and far away.".into(),
                "once",
            ),
            false => (
                format!(
                    "The course dataset runs behind links of {} MB/s each way at round trips of {} \
                     ms, and straight to the server on loopback (no emulator); {} agencies of {} \
                     generated bets run at {FAR_MS} ms.",
                    RATE as f64 / 1e6,
                    SWEEP_MS.map(|ms| ms.to_string()).join(", "),
                    MANY.0,
                    thousands(MANY.1),
                ),
                "3 times: medians, Range the fastest and slowest run",
            ),
        };
        let findings = findings(&rows);
        let body = format!(
            "## Agencies far away\n\nEach agency behind its own long-distance link, emulated in user \
             space by the bench (this machine's kernel has no `netem`; see The link below), and the \
             same data sent two ways in the same run: **tp0 as shipped** (the client's defaults: \
             batches of 120, up to 64 of them in flight) and **stop-and-wait** \
             (`CLI_BATCH_MAXAMOUNT=100 CLI_BATCH_WINDOW=1`: one batch of 100 in flight, the next \
             sent only once the server has acknowledged the last, as the statement's protocols do). \
             The server is the shipped one (told only `SERVER_PORT=0`, `AGENCIES` and `BETS_FILE`: \
             `SYNC=true`, default logs). {data} Each configuration ran {runs}. Speed-up = \
             stop-and-wait's median time / shipped's, same data and link. Every run is checked as in \
             Correctness below. Floor: for shipped, the largest agency's file at the link's rate \
             plus one round trip (the emulated handshake), for stop-and-wait one round trip per \
             batch of the largest agency; × floor = median / floor. No target: this section \
             reports.\n\n{findings}{}{}\n![End to end against the round trip, shipped and \
             stop-and-wait]({CHART})\n\n{}**The link** (`bench/src/harness/link.rs`): one TCP proxy \
             per agency on 127.0.0.1, whose port the client is given as `CLI_SERVER_ADDRESS`. For \
             each connection it accepts it opens one to the server and forwards both directions, \
             each through a queue between two threads: a reader stamps every chunk it reads with \
             its release time, a writer sleeps until then and writes it on. Bytes read at time t \
             leave no earlier than t + half the round trip, once a serialization clock (one per \
             direction and link) has let them out at the rate, in order; the queue holds what the \
             link has in flight (rate × one-way delay) plus {} KiB, beyond which the sender waits, \
             as behind a bottleneck's full buffer. A half-close (the client's EOF after END, the \
             server's close) crosses after the last byte and is delayed like it; an error on either \
             side shuts both connections down. A connection's first bytes wait one round trip \
             more, standing in for the TCP handshake that costs nothing on loopback. Its limits: it \
             is user space, so its timing rides on the bench's threads being scheduled (a sleep \
             overshoots by tens of µs, more on a loaded machine); it has no loss, no jitter and no \
             reordering, so TCP never backs off; both kernels' loopback socket buffers come on top \
             of the emulated link's queue. Its unit tests check the round trip (≥ 2 × the one-way \
             delay per ping-pong), the rate (N bytes take ≥ N / rate), byte-exact order both ways \
             under backpressure, and EOF in both directions.\n\n{}",
            if findings.is_empty() { "" } else { "\n\n" },
            table(&rows),
            problems(&rows),
            BUFFER / 1024,
            env.stamp(&load_start, self.name())
        );
        let far = far_link(FAR_MS);
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
                times(Some(t / f.max(1e-9))),
                "— (reported)".into(),
            ])
        });
        Ok(Outcome {
            chart: chart(CHART, draw(&rows))?,
            console: table(&rows),
            headline: headline.into_iter().collect(),
            notes,
            passed: all_passed(&rows),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::measure::Status;
    use crate::harness::run::RunResult;

    /// Rows as a full run might give: the course at 50 ms and on loopback, 50 agencies far away.
    fn rows() -> Vec<Row> {
        let row = |link: Option<u64>, mode: Mode, agencies: usize, largest: u64, t: f64| {
            let e2e = |k: f64| RunResult {
                e2e: Some(Duration::from_secs_f64(t * k)),
                ..RunResult::default()
            };
            let (id, label, bets) = if agencies == 5 {
                ("course", "course", 78_697)
            } else {
                ("many", "generated", 50_000)
            };
            let tag = (link.and_then(far_link), mode);
            let settings = Settings::Far(tag.0, mode.3);
            let (label, largest, runs, status) = (
                label.into(),
                (largest, largest * 46),
                [0.99, 1.0, 1.02].map(e2e).into(),
                Status::Pass,
            );
            Row {
                tag,
                settings,
                id,
                label,
                agencies,
                bets,
                largest,
                runs,
                status,
            }
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
        let (rows, text) = (rows(), findings(&rows()));
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
        assert!(table.contains("| 0.000 | — |"), "{table}");
        assert_eq!(table.matches("| PASS (3/3) |").count(), rows.len());
        assert!(draw(&rows).is_ok_and(|png| png.starts_with(b"\x89PNG")) && draw(&[]).is_ok());
        assert_eq!(
            plans(false, true)[0].configs.len(),
            2 * (SWEEP_MS.len() + 1)
        );
    }
}
