//! The "Agencies far away" section: each agency behind its own long-distance link (the user-space
//! emulator of [`crate::link`]), tp0 as shipped beside tp0 configured stop-and-wait (one batch of
//! 100 in flight), in the same run, so the table shows what pipelining buys. Its place in
//! `docs/benchmarks.md` is between two markers, so `bench --only far` can replace it alone; its
//! table and text are in [`crate::far_report`], its chart in [`crate::far_chart`].

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::data::{prepare_group, Source};
use crate::link::Spec;
use crate::machine::{load_average, Machine};
use crate::procs::{fail, remove_dir, Ctx, RunError};
use crate::run::{run_once, Settings, Sync};
use crate::summary::{Status, Summary};
use crate::{far_chart, far_report, say};

/// Opens the section in the report.
pub(crate) const BEGIN: &str = "<!-- far:begin -->";
/// Closes the section in the report.
pub(crate) const END: &str = "<!-- far:end -->";
/// The section's chart, next to the report.
pub(crate) const CHART: &str = "benchmarks-far.png";
/// Every emulated link's rate, each direction: 4 MB/s (32 Mbit/s).
pub(crate) const RATE: u64 = 4_000_000;
/// The round trip the issue asks about.
pub(crate) const FAR_RTT: Duration = Duration::from_millis(50);
/// The round trips the course data runs at (besides loopback without the emulator).
pub(crate) const SWEEP_MS: [u64; 4] = [0, 10, 25, 50];
/// Agencies and bets of the many-agency point (generated data).
pub(crate) const MANY: (u32, u64) = (50, 1_000);
/// Runs of each configuration (medians and ranges).
pub(crate) const RUNS: usize = 3;

/// How the clients upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The shipped defaults: batches of 120, up to 64 of them in flight.
    Shipped,
    /// `CLI_BATCH_MAXAMOUNT=100`, `CLI_BATCH_WINDOW=1`: the next batch only after the last's ack.
    StopAndWait,
}

impl Mode {
    /// Both, shipped first.
    pub(crate) const BOTH: [Mode; 2] = [Mode::Shipped, Mode::StopAndWait];

    /// For tables and the chart.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Shipped => "shipped",
            Mode::StopAndWait => "stop-and-wait",
        }
    }

    /// Batch size and batches in flight.
    pub(crate) fn detail(self) -> &'static str {
        match self {
            Mode::Shipped => "batch 120, window 64",
            Mode::StopAndWait => "batch 100, window 1",
        }
    }

    /// Bets per batch.
    pub(crate) fn batch(self) -> u16 {
        match self {
            Mode::Shipped => 120,
            Mode::StopAndWait => 100,
        }
    }

    /// What each client is told beyond its id, address and file.
    fn client_env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Mode::Shipped => &[],
            Mode::StopAndWait => &[("CLI_BATCH_MAXAMOUNT", "100"), ("CLI_BATCH_WINDOW", "1")],
        }
    }
}

/// A link of round trip `rtt_ms` at [`RATE`].
pub(crate) fn far_link(rtt_ms: u64) -> Spec {
    Spec {
        delay: Duration::from_millis(rtt_ms) / 2,
        rate: RATE,
    }
}

/// A link for tables: `RTT 50 ms, 4 MB/s`, or loopback.
pub(crate) fn link_name(link: Option<Spec>) -> String {
    match link {
        None => "none (loopback)".into(),
        Some(spec) => format!(
            "RTT {} ms, {} MB/s",
            spec.rtt().as_millis(),
            spec.rate as f64 / 1e6
        ),
    }
}

/// One data set and the links it runs behind.
pub(crate) struct Group {
    /// Where the data comes from.
    pub source: Source,
    /// Human description of the data.
    pub label: String,
    /// `None`: straight to the server, no emulator.
    pub links: Vec<Option<Spec>>,
}

/// What the section runs: the course dataset (or its generated stand-in) at every round trip of
/// the sweep and on loopback, and many small agencies far away; in `--quick`, five small
/// generated agencies at the far round trip and on loopback.
pub(crate) fn plan(quick: bool, course_present: bool) -> (Vec<Group>, usize) {
    let generated = |agencies, per_agency| Source::Generated {
        agencies,
        per_agency,
    };
    if quick {
        let group = Group {
            source: generated(5, 1_000),
            label: "generated, 1,000 bets per agency".into(),
            links: vec![None, Some(far_link(FAR_RTT.as_millis() as u64))],
        };
        return (vec![group], 1);
    }
    let (source, label) = if course_present {
        (Source::Course, "course".to_string())
    } else {
        (
            generated(5, 15_740),
            "generated stand-in (course dataset absent)".to_string(),
        )
    };
    let mut links = vec![None];
    links.extend(SWEEP_MS.iter().map(|&ms| Some(far_link(ms))));
    let many = Group {
        source: generated(MANY.0, MANY.1),
        label: "generated, 1,000 bets per agency".into(),
        links: vec![Some(far_link(FAR_RTT.as_millis() as u64))],
    };
    (
        vec![
            Group {
                source,
                label,
                links,
            },
            many,
        ],
        RUNS,
    )
}

/// One row of the section: a data set, a link, a mode, and its runs.
pub(crate) struct Row {
    /// The link (`None`: loopback, no emulator).
    pub link: Option<Spec>,
    /// How the clients upload.
    pub mode: Mode,
    /// Bets of the largest agency.
    pub largest: u64,
    /// Size in bytes of the largest agency's file.
    pub largest_bytes: u64,
    /// The runs, summarized.
    pub summary: Summary,
}

impl Row {
    /// The row of the same data and link in the other mode.
    pub(crate) fn partner<'a>(&self, rows: &'a [Row]) -> Option<&'a Row> {
        rows.iter().find(|r| {
            r.link == self.link
                && r.mode != self.mode
                && r.summary.label == self.summary.label
                && r.summary.agencies == self.summary.agencies
        })
    }

    /// Median time of stop-and-wait over median time shipped, same data and link.
    pub(crate) fn speed_up(&self, rows: &[Row]) -> Option<f64> {
        let other = self.partner(rows)?;
        let (shipped, saw) = match self.mode {
            Mode::Shipped => (self, other),
            Mode::StopAndWait => (other, self),
        };
        let pass = |r: &Row| matches!(r.summary.status, Status::Pass);
        if !pass(shipped) || !pass(saw) {
            return None;
        }
        Some(saw.summary.e2e()? / shipped.summary.e2e()?.max(1e-9))
    }
}

/// Runs every group, repetition-major within a group (drift spreads over all its rows alike);
/// `Err(Abort)` only on interruption.
pub(crate) fn run_section(
    ctx: &Ctx,
    groups: &[Group],
    runs: usize,
    course_dir: &Path,
    scratch: &Path,
) -> Result<Vec<Row>, RunError> {
    let total: usize = groups.iter().map(|g| g.links.len() * 2 * runs).sum();
    let mut done = 0;
    let mut rows = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        ctx.check()?;
        let data_dir = scratch.join(format!("data-far-{g}"));
        let id = format!("far-{g}");
        let data = match prepare_group(
            ctx,
            &group.source,
            course_dir,
            &data_dir,
            (&id, &group.label),
        )? {
            Ok(data) => data,
            Err(reason) => {
                for &link in &group.links {
                    for mode in Mode::BOTH {
                        rows.push(row(group, link, mode, 0, 0, 0));
                        if let Some(last) = rows.last_mut() {
                            last.summary.status = Status::Failed(vec![reason.clone()]);
                        }
                    }
                }
                done += group.links.len() * 2 * runs;
                continue;
            }
        };
        let (largest, largest_bytes) = data
            .per_agency
            .iter()
            .zip(&data.files)
            .max_by_key(|(bets, _)| **bets)
            .map_or((0, 0), |(bets, file)| {
                (*bets, fs::metadata(file).map_or(0, |m| m.len()))
            });
        let first = rows.len();
        for &link in &group.links {
            for mode in Mode::BOTH {
                let mut row = row(group, link, mode, data.files.len(), data.bets, largest);
                row.largest_bytes = largest_bytes;
                rows.push(row);
            }
        }
        for rep in 0..runs {
            for row in &mut rows[first..] {
                done += 1;
                let settings = Settings::Far {
                    link: row.link,
                    client_env: row.mode.client_env(),
                };
                let result = match run_once(ctx, &data, settings, &scratch.join("run")) {
                    Ok(result) => result,
                    Err(abort) => {
                        remove_dir(&data_dir);
                        return Err(abort);
                    }
                };
                eprintln!(
                    "bench: [{done}/{total}] far {} agencies, {} bets, link {}, {}, run {}/{runs}: {}",
                    data.files.len(),
                    data.bets,
                    link_name(row.link),
                    row.mode.name(),
                    rep + 1,
                    match (result.failures.is_empty(), result.e2e) {
                        (true, Some(d)) => format!("{:.3} s", d.as_secs_f64()),
                        _ => format!("FAILED: {}", result.failures.join("; ")),
                    }
                );
                row.summary.runs.push(result);
            }
        }
        for row in &mut rows[first..] {
            row.summary.settle();
        }
        remove_dir(&data_dir);
    }
    Ok(rows)
}

/// What the far section needs from the bench's setup.
pub(crate) struct Env<'a> {
    /// Binaries and the stop flag.
    pub ctx: &'a Ctx,
    /// `--quick`.
    pub quick: bool,
    /// Whether the course dataset is there.
    pub course_present: bool,
    /// Where it would be.
    pub course_dir: &'a Path,
    /// Scratch space.
    pub scratch: &'a Path,
    /// The repository (for the commit).
    pub root: &'a Path,
    /// Where the chart goes.
    pub out_dir: &'a Path,
}

/// Runs the far section, writes its chart and prints its table; the section's Markdown and
/// whether every configuration passed.
pub(crate) fn section(env: &Env<'_>) -> Result<(String, bool), RunError> {
    let load_start = load_average();
    let (groups, runs) = plan(env.quick, env.course_present);
    let rows = run_section(env.ctx, &groups, runs, env.course_dir, env.scratch)?;
    let machine = Machine::probe(env.root, load_start.clone());
    let section = far_report::section(&rows, &machine, &load_start, runs, env.quick);
    let png = far_chart::chart(&rows).map_err(RunError::Fail)?;
    let png_path = env.out_dir.join(CHART);
    fs::write(&png_path, png).map_err(fail(format!("write {}", png_path.display())))?;
    say(&far_report::table(&rows));
    Ok((
        section,
        !rows
            .iter()
            .any(|r| matches!(r.summary.status, Status::Failed(_))),
    ))
}

/// A row not yet run.
fn row(
    group: &Group,
    link: Option<Spec>,
    mode: Mode,
    agencies: usize,
    bets: u64,
    largest: u64,
) -> Row {
    Row {
        link,
        mode,
        largest,
        largest_bytes: 0,
        summary: Summary {
            group: "far",
            label: group.label.clone(),
            agencies,
            bets,
            sync: Sync::Durable,
            batch: mode.batch(),
            runs: Vec::new(),
            status: Status::Pass,
        },
    }
}

#[cfg(test)]
#[path = "far_tests.rs"]
pub(crate) mod tests;
