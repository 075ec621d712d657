//! The sections of the report, one module each with a [`Run`] function; what `main` hands each
//! one and what it hands back, and what they share beyond [`crate::fmt`].

pub mod agencies;
pub mod far;
pub mod load;
pub mod loopback;

use std::path::Path;

use crate::fmt::Target;
use crate::harness::ctx::{Ctx, Result, RunError};
use crate::harness::machine::{load_average, Machine};
use crate::harness::measure::{Plan, Summary};

/// What the bench's setup gives every section.
pub struct Env<'a> {
    /// Binaries and the stop flag.
    pub ctx: &'a Ctx,
    /// `--quick`: a smoke test, small data, one run each.
    pub quick: bool,
    /// Where the course dataset is, if it is there.
    pub course: Option<&'a Path>,
    /// Scratch space, removed at the end.
    pub scratch: &'a Path,
    /// The repository (for the commit).
    pub root: &'a Path,
}

impl Env<'_> {
    /// Runs `plans` ([`crate::harness::measure::measure`]) with the course dataset (or, where it
    /// is missing, scratch, for data preparation to report) and scratch.
    pub fn measure<T: Clone>(
        &self,
        plans: &[Plan<T>],
        notes: &mut Vec<String>,
    ) -> Result<Vec<Summary<T>>> {
        let dirs = (self.course.unwrap_or(self.scratch), self.scratch);
        crate::harness::measure::measure(self.ctx, plans, dirs, notes)
    }

    /// The section's closing line: the date, the commit, the load at its start and end, and the
    /// command that reruns it alone.
    pub fn stamp(&self, load_start: &str, name: &str) -> String {
        let machine = Machine::probe(self.root, load_start.into());
        let busy = machine.busy().map_or(String::new(), |peak| {
            format!(
                " The 1-minute load average reached {peak:.1} on {} CPUs around this section: \
                 it trails by about a minute and counts the bench's own processes too, and where \
                 other work shared the CPUs, times are slower and noisier than on an idle machine \
                 (CPU times and memory much less so).",
                machine.nproc
            )
        });
        format!(
            "Measured {} at commit {}; load average (1/5/15 min) {load_start} at the start of the \
             section, {} at its end.{busy} Only this section: \
             `make bench BENCH_ARGS='--only {name}'`.\n",
            machine.date, machine.commit, machine.load_end
        )
    }
}

/// One row of the headline table: the figure, tp0's value, the floor, the ratio, the target.
pub type Headline = [String; 5];

/// What a section hands back.
pub struct Outcome {
    /// Its Markdown, without the markers.
    pub body: String,
    /// Its chart, if it draws one: file name next to the report, PNG bytes.
    pub chart: Option<(&'static str, Vec<u8>)>,
    /// What it prints on stdout.
    pub console: String,
    /// Its rows of the headline table.
    pub headline: Vec<Headline>,
    /// Notes for the report's Notes section.
    pub notes: Vec<String>,
    /// Whether no run failed.
    pub passed: bool,
}

/// A section's run: its measurements, written up; `Err` only on interruption or when the bench
/// cannot do its work.
pub type Run = fn(&Env<'_>) -> Result<Outcome>;

/// The load average now, for [`Env::stamp`].
pub fn load_now() -> String {
    load_average()
}

/// A time target: `row`'s median end to end at most `limit` seconds (SKIPPED if it did not
/// run); `detail` follows `what` once measured.
pub fn time_target<T>(what: &str, detail: &str, limit: f64, row: Option<&Summary<T>>) -> Target {
    let Some(row) = row.filter(|r| r.ran()) else {
        return Target::skipped(what, "not run");
    };
    let t = row.e2e().filter(|_| row.passed());
    let measured = t.map_or("FAILED".into(), |t| format!("{t:.3} s"));
    Target::check(
        t.is_some_and(|t| t <= limit),
        format!("{what}{detail}: {measured}"),
    )
}

/// A chart's failure to draw, as the bench's error.
pub fn chart(
    name: &'static str,
    png: Result<Vec<u8>, String>,
) -> Result<Option<(&'static str, Vec<u8>)>> {
    Ok(Some((name, png.map_err(RunError::Fail)?)))
}
