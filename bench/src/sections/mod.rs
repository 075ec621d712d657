//! The sections of the report, one module each with a [`Run`] function; what `main` hands each
//! one and what it hands back, and what they share beyond [`crate::fmt`].

pub mod agencies;
pub mod far;
pub mod load;
pub mod loopback;

use std::path::Path;

use crate::canvas::Point;
use crate::fmt::{fill, mib, num, thousands, times, Table, Target};
use crate::harness::machine::{load_average, Machine};
use crate::harness::measure::{measure, problems, Plan, Status, Summary};
use crate::harness::run::ROLES;
use crate::harness::{Ctx, Result};

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
    /// Measures `plans`; the summaries and an outcome holding the notes, the verdict and, for
    /// [`Outcome::write`], the `{problems}` and `{stamp}` of section `name`.
    pub fn measure<T: Clone>(
        &self,
        name: &str,
        plans: &[Plan<T>],
    ) -> Result<(Vec<Summary<T>>, Outcome)> {
        let (load_start, mut out) = (load_average(), Outcome::default());
        let dirs = (self.course.unwrap_or(self.scratch), self.scratch);
        let rows = measure(self.ctx, plans, dirs, &mut out.notes)?;
        out.passed = !rows.iter().any(|r| matches!(r.status, Status::Failed(_)));
        let stamp = self.stamp(&load_start, name);
        out.parts = vec![("problems", problems(&rows)), ("stamp", stamp)];
        Ok((rows, out))
    }

    /// The section's closing line: the date, the commit, the load at its start and end, and the
    /// command that reruns it alone.
    pub fn stamp(&self, load_start: &str, name: &str) -> String {
        let m = Machine::probe(self.root, load_start.into());
        let busy = m.busy().map_or(String::new(), |peak| {
            let (peak, n) = (format!("{peak:.1}"), m.nproc.to_string());
            " ".to_string() + &fill(include_str!("busy.md"), &[("peak", peak), ("nproc", n)])
        });
        let (date, commit, end) = (m.date, m.commit, m.load_end);
        let when = [("date", date), ("commit", commit), ("load_end", end)];
        let (start, name) = (load_start.to_string(), name.to_string());
        let rest = [("load_start", start), ("busy", busy), ("name", name)];
        fill(&fill(include_str!("stamp.md"), &when), &rest)
    }
}

/// One row of the headline table: the figure, tp0's value, the floor, the ratio, the target.
pub type Headline = [String; 5];

/// A headline row: `what`, tp0's value `t` (followed by `extra`) and the floor's `f` in `unit`
/// (`s` with 3 decimals, `ms` with 2), their ratio, the target.
pub fn headline(
    what: String,
    (t, f): (f64, f64),
    unit: &str,
    extra: &str,
    target: &str,
) -> Option<Headline> {
    let d = if unit == "ms" { 2 } else { 3 };
    Some([
        what,
        format!("{t:.d$} {unit}{extra}"),
        format!("{f:.d$} {unit}"),
        times(Some(t / f.max(1e-9))),
        target.into(),
    ])
}

/// What a section hands back.
#[derive(Default)]
pub struct Outcome {
    /// Its Markdown, without the markers.
    pub body: String,
    /// Its chart, if it draws one: file name next to the report, PNG bytes.
    pub chart: Option<(&'static str, Vec<u8>)>,
    /// Its rows of the headline table.
    pub headline: Vec<Headline>,
    /// Notes for the report's Notes section.
    pub notes: Vec<String>,
    /// Whether no run failed.
    pub passed: bool,
    /// Values [`Outcome::write`] fills in besides its own.
    pub parts: Vec<(&'static str, String)>,
}

impl Outcome {
    /// The body: `template` filled with `values` and [`Outcome::parts`].
    pub fn write(&mut self, template: &str, values: &[(&str, String)]) {
        self.body = fill(&fill(template, values), &self.parts);
    }
}

/// A section's run: its measurements, written up; `Err` only on interruption or when the bench
/// cannot do its work.
pub type Run = fn(&Env<'_>) -> Result<Outcome>;

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

/// A chart's point for `row` at `x`: its median end to end through `y`, the whisker from its
/// fastest to its slowest run, `label` of the median.
pub fn point<T>(
    row: &Summary<T>,
    x: f64,
    y: impl Fn(f64) -> f64,
    label: &dyn Fn(f64) -> String,
) -> Option<Point> {
    let ((fast, slow), mid) = (row.e2e_range()?, y(row.e2e()?));
    let whisker = (y(fast).min(y(slow)), y(fast).max(y(slow)));
    Some(Point(x, mid, whisker, row.passed(), label(mid)))
}

/// The columns the sections' tables share.
impl<T> Table<'_, Summary<T>> {
    /// Median end to end, its range (fastest–slowest run, if more than one), bets/s at the
    /// median.
    pub fn times(self) -> Self {
        let range = |r: &Summary<T>| r.e2e_range().filter(|_| r.runs.len() > 1);
        let range = move |r: &Summary<T>| {
            range(r).map_or("—".into(), |(lo, hi)| format!("{lo:.3}–{hi:.3}"))
        };
        self.right("End to end (s)", |r| num(r.e2e(), 3))
            .right("Range (s)", range)
            .right("Bets/s", |r| {
                r.rate().map_or("—".into(), |r| thousands(r as u64))
            })
    }

    /// The largest peak RSS (MiB) of each role ([`crate::harness::run::RunResult::rss`]).
    pub fn rss(self, roles: [usize; 4]) -> Self {
        let column =
            |t: Self, role: usize| t.right(format!("RSS {}", ROLES[role]), |r| mib(r.rss(role)));
        roles.into_iter().fold(self, column)
    }

    /// PASS, FAILED or SKIPPED, with the runs passed or failed out of those done.
    pub fn result(self) -> Self {
        self.left("Result", |r| {
            let runs = r.runs.len();
            let failed = r.runs.iter().filter(|r| !r.failures.is_empty()).count();
            match &r.status {
                Status::Pass => format!("PASS ({runs}/{runs})"),
                Status::Failed(_) => format!("**FAILED** ({failed}/{runs})"),
                Status::Skipped(_) => "SKIPPED".into(),
            }
        })
    }
}
