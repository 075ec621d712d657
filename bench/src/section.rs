//! The one trait every section of the report implements, and what `main` hands each one. A
//! section owns its plan, its table, its text and its charts; `main` runs them in a loop and
//! writes what they return into `docs/benchmarks.md` between the section's markers.

use std::path::Path;

use crate::harness::ctx::{Ctx, RunError};
use crate::harness::machine::{load_average, Machine};

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
    /// Where the course dataset would be (data preparation reports it missing).
    pub fn course_dir(&self) -> &Path {
        self.course.unwrap_or(self.scratch)
    }

    /// The section's closing line: the date, the commit, the load at its start and end, and
    /// the command that reruns it alone.
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
             section, {} at its end.{busy} Only this section: `make bench BENCH_ARGS='--only {name}'`.\n",
            machine.date, machine.commit, machine.load_end
        )
    }
}

/// One row of the headline table: the figure, tp0's value, the floor, the ratio, the target.
pub type Headline = [String; 5];

/// What a section hands back.
#[derive(Default)]
pub struct Outcome {
    /// Its Markdown, without the markers.
    pub body: String,
    /// Its charts: file name next to the report, PNG bytes.
    pub charts: Vec<(&'static str, Vec<u8>)>,
    /// What it prints on stdout.
    pub console: String,
    /// Its rows of the headline table.
    pub headline: Vec<Headline>,
    /// Notes for the report's Notes section.
    pub notes: Vec<String>,
    /// Whether every run passed.
    pub passed: bool,
}

/// A section of the report.
pub trait Section {
    /// Its name: `--only NAME` and the markers `<!-- NAME:begin -->`.
    fn name(&self) -> &'static str;
    /// Runs its measurements and writes it up; `Err` only on interruption or when the bench
    /// cannot do its work.
    fn run(&self, env: &Env<'_>) -> Result<Outcome, RunError>;
}

/// The load average now, for [`Env::stamp`].
pub fn load_now() -> String {
    load_average()
}
