//! The "Agencies far away" section: each agency behind its own long-distance link (the user-space
//! emulator of [`crate::harness::link`]), tp0 as shipped beside tp0 configured stop-and-wait (one
//! batch of 100 in flight), in the same run; each mode beside its floor (the link's rate for
//! shipped, a round trip per batch for stop-and-wait).

use std::time::Duration;

use plotters::style::RGBColor;

use crate::canvas::{render, ticks, Line, LineChart, BLUE, GREY, ORANGE};
use crate::fmt::{fill, num, thousands, times, Table};
use crate::harness::data::Source;
use crate::harness::link::{Spec, BUFFER};
use crate::harness::measure::{Plan, Summary};
use crate::harness::run::Settings;
use crate::harness::Result;
use crate::sections::{headline, point, Env, Outcome};

/// Every emulated link's rate, each direction: 4 MB/s (32 Mbit/s).
const RATE: u64 = 4_000_000;
/// The round trip the issue asks about, in ms.
const FAR_MS: u64 = 50;
/// Agencies and bets of the many-agency point (generated data).
const MANY: (u32, u64) = (50, 1_000);
/// The course dataset's stand-in's label.
const STAND_IN: &str = "generated stand-in (course dataset absent)";
/// What a stop-and-wait client is told: one batch of 100 in flight.
const WINDOW_1: &[(&str, &str)] = &[("CLI_BATCH_MAXAMOUNT", "100"), ("CLI_BATCH_WINDOW", "1")];

/// A row's link (`None`: loopback) and whether the clients upload as shipped (else
/// stop-and-wait).
type Tag = (Option<Spec>, bool);
/// One row of the section.
type Row = Summary<Tag>;

/// The mode, for tables and the chart.
fn mode(shipped: bool) -> &'static str {
    match shipped {
        true => "shipped (batch 120, window 64)",
        false => "stop-and-wait (batch 100, window 1)",
    }
}

/// Batches of 100 (stop-and-wait) for `bets`.
fn batches(bets: u64) -> u64 {
    bets.div_ceil(100)
}

/// A link of round trip `rtt_ms` at [`RATE`].
fn far_link(rtt_ms: u64) -> Option<Spec> {
    let delay = Duration::from_millis(rtt_ms) / 2;
    Some(Spec { delay, rate: RATE })
}

/// A link for tables: `RTT 50 ms, 4 MB/s`, or loopback.
fn link_name(link: Option<Spec>) -> String {
    let name = |l: Spec| format!("RTT {} ms, {} MB/s", l.rtt().as_millis(), RATE as f64 / 1e6);
    link.map_or("none (loopback)".into(), name)
}

/// The course dataset (or its stand-in) at round trips of 0 to 50 ms and on loopback, and many
/// small agencies far away; `--quick`: five small agencies far away and on loopback.
fn plans(quick: bool, course: bool) -> Vec<Plan<Tag>> {
    let plan = |id: &str, source, label: &str, links: &[Option<Spec>], runs| {
        let modes = links.iter().flat_map(|&l| [true, false].map(|s| (l, s)));
        let env = |shipped| if shipped { &[][..] } else { WINDOW_1 };
        let configs = modes.map(|t| (t, Settings::Far(t.0, env(t.1))));
        Plan::new(id, source, label, configs.collect(), runs)
    };
    let (generated, far) = ("generated, 1,000 bets per agency", far_link(FAR_MS));
    if quick {
        let five = Source::Generated(5, 1_000);
        return vec![plan("far", five, generated, &[None, far], 1)];
    }
    let (source, label) = match course {
        true => (Source::Course(1), "course"),
        false => (Source::STAND_IN, STAND_IN),
    };
    let links = [None, far_link(0), far_link(10), far_link(25), far];
    let many = Source::Generated(MANY.0, MANY.1);
    vec![
        plan("far-course", source, label, &links, 3),
        plan("far-many", many, generated, &[far], 3),
    ]
}

/// The row of the same data and link in the other mode.
fn other<'a>(rows: &'a [Row], row: &Row, shipped: bool) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.id == row.id && r.tag == (row.tag.0, shipped))
}

/// Median time of stop-and-wait over median time shipped, same data and link.
fn speed_up(rows: &[Row], row: &Row) -> Option<f64> {
    let (shipped, saw) = (other(rows, row, true)?, other(rows, row, false)?);
    let passed = shipped.passed() && saw.passed();
    Some(saw.e2e()? / shipped.e2e()?.max(1e-9)).filter(|_| passed)
}

/// A row's floor in seconds: shipped, its largest file at the link's rate plus the handshake's
/// round trip; stop-and-wait, a round trip per batch. `None` on loopback.
fn floor(row: &Row) -> Option<f64> {
    let (rtt, (bets, bytes)) = (row.tag.0?.rtt().as_secs_f64(), row.largest);
    Some(match row.tag.1 {
        true => bytes as f64 / RATE as f64 + rtt,
        false => batches(bets) as f64 * rtt,
    })
}

/// The section's table.
fn rows_table(rows: &[Row]) -> String {
    let over = |r: &Row| {
        times(
            r.e2e()
                .zip(floor(r).filter(|f| *f > 0.0))
                .map(|(t, f)| t / f),
        )
    };
    let speed_up = |r: &Row| match speed_up(rows, r) {
        Some(x) if r.tag.1 => format!("**×{x:.1}**"),
        Some(_) => "(the baseline)".into(),
        None => "—".into(),
    };
    Table::of(rows)
        .left("Mode", |r| mode(r.tag.1).into())
        .left("Link", |r| link_name(r.tag.0))
        .left("Data", |r| r.label.clone())
        .right("Agencies", |r| thousands(r.agencies as u64))
        .right("Bets", |r| thousands(r.bets))
        .times()
        .right("Floor (s)", |r| num(floor(r), 3))
        .right("× floor", over)
        .right("Speed-up (shipped over stop-and-wait)", speed_up)
        .result()
        .markdown()
}

/// What the rows say, in sentences: the far round trip with the first data set (the course's)
/// and why each mode takes what it takes, loopback, and the many small agencies.
fn findings(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let of_first = |r: &&Row| r.id == first.id;
    let shipped_at = |link| rows.iter().filter(of_first).find(|r| r.tag == (link, true));
    let (mb_s, rtt, mut out) = (RATE as f64 / 1e6, FAR_MS as f64 / 1e3, Vec::new());
    if let Some(shipped) = shipped_at(far_link(FAR_MS)) {
        let saw = other(rows, shipped, false).and_then(Summary::e2e);
        if let (Some(x), Some(ts), Some(tw)) = (speed_up(rows, shipped), shipped.e2e(), saw) {
            let (link, n, data) = (link_name(shipped.tag.0), shipped.agencies, &shipped.label);
            out.push(format!(
                "**Behind links of {link}, {n} agencies sending {} bets ({data}) take {ts:.2} s \
                 as shipped and {tw:.2} s stop-and-wait: shipped is {x:.1} times faster.**",
                thousands(shipped.bets),
            ));
        }
        let ((bets, bytes), batches) = (shipped.largest, batches(shipped.largest.0));
        let saw = rows
            .iter()
            .filter(of_first)
            .filter(|r| !r.tag.1 && r.passed());
        let saw = saw.filter_map(|r| Some((r.tag.0?.rtt().as_secs_f64() * 1e3, r.e2e()?)));
        let saw: Vec<(f64, f64)> = saw.collect();
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
        let (all, many, wait) = (thousands(bets), thousands(batches), batches as f64 * rtt);
        out.push(format!(
            "Stop-and-wait pays at least one round trip per batch: the largest agency's {all} bets \
             are {many} batches of 100, {wait:.2} s at {FAR_MS} ms, before connecting, HELLO, END \
             and the winners query add a round trip each{slope}."
        ));
        let per_bet = bytes as f64 / bets.max(1) as f64;
        let (air, held) = (64.0 * 120.0 * per_bet / 1e3, RATE as f64 * rtt / 1e3);
        let (mb, secs) = (bytes as f64 / 1e6, bytes as f64 / RATE as f64);
        out.push(format!(
            "As shipped, 64 batches of 120 (about {air:.0} kB, at the {per_bet:.0} bytes per bet \
             of this data's files) may be in the air, more than the {held:.0} kB the link holds in \
             flight (rate × round trip), so the rate bounds it: the largest agency's file, \
             {mb:.2} MB, takes {secs:.2} s at {mb_s} MB/s, plus a few round trips."
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
        .find(|r| r.tag.1 && r.agencies == MANY.0 as usize);
    if let Some((many, x)) = many.and_then(|r| Some((r, speed_up(rows, r)?))) {
        let (n, (bets, _), link) = (many.agencies, many.largest, link_name(many.tag.0));
        out.push(format!(
            "With {n} agencies of {} bets ({} batches of 100 each) at {link}, shipped is {x:.1} \
             times faster: there is little to pipeline, and the round trips both modes pay \
             (connecting, HELLO, END, the winners) weigh more.",
            thousands(bets),
            batches(bets),
        ));
    }
    // Its own paragraph, when there is one.
    let text = out.into_iter().reduce(|a, b| a + " " + &b);
    text.map_or(String::new(), |t| t + "\n\n")
}

/// The chart: end to end against the round trip for the first data set, shipped and
/// stop-and-wait (whiskers, speed-up), and both floors.
fn draw(rows: &[Row]) -> Result<Vec<u8>, String> {
    let first = rows.first();
    let rtt = |r: &Row| Some(r.tag.0?.rtt().as_secs_f64() * 1e3);
    let of = |shipped| {
        let same = move |r: &&Row| first.is_some_and(|f| f.id == r.id) && r.tag.1 == shipped;
        rows.iter().filter(same).filter(|r| r.tag.0.is_some())
    };
    let points = |shipped| {
        let dot = |r: &Row| {
            let x = speed_up(rows, r).filter(|_| shipped);
            let x = x.map_or(String::new(), |x| {
                format!(" (×{x:.0$})", usize::from(x < 10.0))
            });
            let failed = if r.passed() { "" } else { " FAILED" };
            point(r, rtt(r)?, |t| t, &|t| format!("{t:.2} s{x}{failed}"))
        };
        of(shipped).filter_map(dot).collect()
    };
    let floors = |shipped| of(shipped).filter_map(|r| Some((rtt(r)?, floor(r)?)));
    let batches = first.map_or(0, |r| batches(r.largest.0));
    let saw_floor = format!(
        "stop-and-wait floor: one round trip per batch ({batches} batches of 100, largest agency)"
    );
    let shipped_floor = "shipped floor: the largest agency's file at the link's rate, plus one \
                         round trip";
    let lines = vec![
        Line::dashed(&saw_floor, GREY, floors(false)),
        Line::dashed(shipped_floor, RGBColor(120, 170, 210), floors(true)),
        Line::solid(mode(true), BLUE, points(true), false),
        Line::solid(mode(false), ORANGE, points(false), true),
    ];
    let data = first.map_or(String::new(), |r| {
        format!("{}, {} agencies", r.label, r.agencies)
    });
    let title = format!(
        "tp0, agencies far away: end to end against the round trip ({} MB/s links; {data})",
        RATE as f64 / 1e6
    );
    let axes = (
        "round trip of each agency's link (ms)",
        "end to end (s), median; bars: fastest to slowest run",
    );
    let chart = LineChart(title, axes, (ticks(0), ticks(0)), lines);
    render("", (1000, 580), &[chart])
}

/// Runs the section and writes it up.
pub fn run(env: &Env<'_>) -> Result<Outcome> {
    let data = match env.quick {
        true => "Five agencies of 1,000 generated bets, on loopback and far away.".into(),
        false => {
            let (mb_s, bets) = ((RATE as f64 / 1e6).to_string(), thousands(MANY.1));
            let (many, far) = (MANY.0.to_string(), FAR_MS.to_string());
            let (v, w) = (
                [("mb_s", mb_s), ("bets", bets)],
                [("many", many), ("far_ms", far)],
            );
            fill(&fill(include_str!("far-data.md"), &v), &w)
        }
    };
    let runs = match env.quick {
        true => "once",
        false => "3 times: medians, Range the fastest and slowest run",
    };
    let (rows, mut out) = env.measure("far", &plans(env.quick, env.course.is_some()))?;
    let values = [
        ("data", data),
        ("runs", runs.into()),
        ("findings", findings(&rows)),
        ("table", rows_table(&rows)),
        ("buffer", (BUFFER / 1024).to_string()),
    ];
    out.write(include_str!("far.md"), &values);
    out.chart = Some(("benchmarks-far.png", draw(&rows)?));
    let far = far_link(FAR_MS);
    let row = rows.iter().find(|r| r.tag == (far, true));
    out.headline.extend(row.and_then(|r| {
        let (link, data, n) = (link_name(far), &r.label, r.agencies);
        let what = format!("Far away: {link}, {data} ({n} agencies), as shipped");
        headline(what, (r.e2e()?, floor(r)?), "s", "", "— (reported)")
    }));
    Ok(out)
}
