//! Measurement: every plan's runs, in repetition-major order (slow drift spreads over all its
//! configurations alike), summarized per configuration (medians, ranges, the largest peaks).

use std::path::Path;

use crate::fmt::median;
use crate::harness::data::{prepare, Dataset, Source};
use crate::harness::procs::remove_dir;
use crate::harness::run::{run_once, RunResult, Settings};
use crate::harness::{Ctx, Result, RunError};

/// Free space needed before a big data set (10 million bets) is generated.
const BIG_FREE_BYTES: u64 = 3_000_000_000;

/// The outcome of one configuration.
#[derive(Clone, Debug)]
pub enum Status {
    /// Every run passed.
    Pass,
    /// At least one run failed: the reasons.
    Failed(Vec<String>),
    /// Not run: why.
    Skipped(String),
}

/// Configurations sharing one data set, run repetition-major.
pub struct Plan<T> {
    /// Stable key, for progress lines and the data's scratch directory.
    pub id: String,
    /// Where the data comes from.
    pub source: Source,
    /// Human description of the data.
    pub label: String,
    /// What to run on it, each with its section's tag.
    pub configs: Vec<(T, Settings)>,
    /// Repetitions.
    pub runs: usize,
}

impl<T> Plan<T> {
    /// A plan of `configs` on `source`, `runs` times each.
    pub fn new(
        id: &str,
        source: Source,
        label: &str,
        configs: Vec<(T, Settings)>,
        runs: usize,
    ) -> Plan<T> {
        let (id, label) = (id.into(), label.into());
        Plan {
            id,
            source,
            label,
            configs,
            runs,
        }
    }
}

/// One configuration's runs, summarized; `tag` is what the section knows it by.
pub struct Summary<T> {
    /// The section's name for the configuration.
    pub tag: T,
    /// How it ran.
    pub settings: Settings,
    /// [`Plan::id`].
    pub id: String,
    /// [`Plan::label`].
    pub label: String,
    /// Agencies (clients).
    pub agencies: usize,
    /// Bets sent per run.
    pub bets: u64,
    /// Bets of the largest agency, and the size in bytes of its file.
    pub largest: (u64, u64),
    /// The runs done.
    pub runs: Vec<RunResult>,
    /// Pass, failed or skipped.
    pub status: Status,
}

impl<T> Summary<T> {
    /// The median of one per-run number.
    pub fn median_of(&self, pick: impl Fn(&RunResult) -> Option<f64>) -> Option<f64> {
        median(self.runs.iter().filter_map(pick).collect())
    }

    /// Median end-to-end seconds over the runs that measured one.
    pub fn e2e(&self) -> Option<f64> {
        self.median_of(|r| Some(r.e2e?.as_secs_f64()))
    }

    /// Fastest and slowest end-to-end seconds.
    pub fn e2e_range(&self) -> Option<(f64, f64)> {
        let times = self.runs.iter().filter_map(|r| Some(r.e2e?.as_secs_f64()));
        let (lo, hi) = times.fold((f64::INFINITY, 0.0f64), |(lo, hi), t| {
            (lo.min(t), hi.max(t))
        });
        (lo <= hi).then_some((lo, hi))
    }

    /// Bets per second at the median time.
    pub fn rate(&self) -> Option<f64> {
        Some(self.bets as f64 / self.e2e().filter(|s| *s > 0.0)?)
    }

    /// The largest peak RSS (KiB) of one role ([`RunResult::rss`]) over the runs.
    pub fn rss(&self, role: usize) -> Option<u64> {
        self.runs.iter().filter_map(|r| r.rss[role]).max()
    }

    /// Whether it ran and passed.
    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Pass)
    }

    /// Whether it ran (passed or failed).
    pub fn ran(&self) -> bool {
        !matches!(self.status, Status::Skipped(_))
    }
}

/// The list under a section's table: each configuration that failed (its first five distinct
/// reasons) or was skipped.
pub fn problems<T>(rows: &[Summary<T>]) -> String {
    let mut out = String::new();
    for r in rows {
        let what = format!(
            "{}, {} agencies, {}",
            r.label,
            r.agencies,
            r.settings.describe()
        );
        match &r.status {
            Status::Pass => {}
            Status::Failed(reasons) => {
                let mut reasons = reasons.clone();
                reasons.dedup();
                reasons.truncate(5);
                out += &format!("- FAILED: {what}: {}\n", reasons.join("; "));
            }
            Status::Skipped(reason) => out += &format!("- SKIPPED: {what}: {reason}\n"),
        }
    }
    out
}

/// The data of `plan`, prepared in `dir` unless it needs more disk than `scratch` has free;
/// `Err` with the summaries' status if it cannot be had (a failure also goes to `notes`).
fn data_of<T>(
    ctx: &Ctx,
    plan: &Plan<T>,
    (course_dir, scratch, dir): (&Path, &Path, &Path),
    notes: &mut Vec<String>,
) -> Result<Result<Dataset, Status>> {
    let stat = nix::sys::statvfs::statvfs(scratch).ok();
    let free = stat.map(|s| s.blocks_available().saturating_mul(s.fragment_size()));
    let big = matches!(plan.source, Source::Generated(n, per) if u64::from(n) * per >= 10_000_000);
    if big && free.is_none_or(|f| f < BIG_FREE_BYTES) {
        let free = free.map_or("unknown".into(), |b| format!("{:.1} GB", b as f64 / 1e9));
        let (id, gb) = (&plan.id, BIG_FREE_BYTES / 1_000_000_000);
        let why = format!("{id}: skipped, {free} free on the scratch disk, {gb} GB needed");
        return Ok(Err(Status::Skipped(why)));
    }
    eprintln!("bench: preparing data {} ({})", plan.id, plan.label);
    match prepare(ctx, &plan.source, course_dir, dir) {
        Err(RunError::Fail(reason)) => {
            let reason = format!("{}: data preparation failed: {reason}", plan.id);
            eprintln!("bench: {reason}");
            notes.push(reason.clone());
            Ok(Err(Status::Failed(vec![reason])))
        }
        other => other.map(Ok),
    }
}

/// Runs every plan; `Err(Abort)` only on interruption. A plan whose data cannot be prepared
/// (the reason goes to `notes`) or that needs more disk than is free gives FAILED or SKIPPED
/// summaries, and the bench goes on.
pub fn measure<T: Clone>(
    ctx: &Ctx,
    plans: &[Plan<T>],
    (course_dir, scratch): (&Path, &Path),
    notes: &mut Vec<String>,
) -> Result<Vec<Summary<T>>> {
    let total: usize = plans.iter().map(|p| p.configs.len() * p.runs).sum();
    let (mut done, mut summaries) = (0, Vec::new());
    for plan in plans {
        ctx.check()?;
        let data_dir = scratch.join(format!("data-{}", plan.id));
        let data = data_of(ctx, plan, (course_dir, scratch, &data_dir), notes)?;
        let mut runs: Vec<Vec<RunResult>> = plan.configs.iter().map(|_| Vec::new()).collect();
        for rep in 1..=plan.runs {
            let Ok(data) = &data else { break };
            for (k, (_, settings)) in plan.configs.iter().enumerate() {
                done += 1;
                let result = run_once(ctx, data, *settings, &scratch.join("run"));
                let result = result.inspect_err(|_| remove_dir(&data_dir))?;
                let outcome = match result.e2e.filter(|_| result.failures.is_empty()) {
                    Some(d) => format!("{:.3} s", d.as_secs_f64()),
                    None => format!("FAILED: {}", result.failures.join("; ")),
                };
                let (id, how, n) = (&plan.id, settings.describe(), plan.runs);
                eprintln!("bench: [{done}/{total}] {id}, {how}, run {rep}/{n}: {outcome}");
                runs[k].push(result);
            }
        }
        remove_dir(&data_dir);
        // Without its data, a plan has the size its source names.
        let (agencies, bets, largest) = match (&data, &plan.source) {
            (Ok(data), _) => (data.files.len(), data.bets, data.largest()),
            (Err(_), &Source::Generated(n, per)) => (n as usize, u64::from(n) * per, (0, 0)),
            (Err(_), _) => (5, 0, (0, 0)),
        };
        let status = data.err().unwrap_or(Status::Pass);
        for ((tag, settings), runs) in plan.configs.iter().zip(runs) {
            let reasons: Vec<String> = runs.iter().flat_map(|r| r.failures.clone()).collect();
            summaries.push(Summary {
                tag: tag.clone(),
                settings: *settings,
                id: plan.id.clone(),
                label: plan.label.clone(),
                agencies,
                bets,
                largest,
                status: match reasons.is_empty() {
                    true => status.clone(),
                    false => Status::Failed(reasons),
                },
                runs,
            });
        }
    }
    Ok(summaries)
}
