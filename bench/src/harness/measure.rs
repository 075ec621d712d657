//! Measurement: every plan's runs, in repetition-major order (slow drift spreads over all its
//! configurations alike), summarized per configuration (medians, ranges, the largest peaks).

use std::path::Path;

use crate::fmt::{median, num, thousands};
use crate::harness::ctx::{Ctx, Result, RunError};
use crate::harness::data::{prepare, Source};
use crate::harness::procs::remove_dir;
use crate::harness::run::{run_once, RunResult, Settings};

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

    /// The cells every table shows: median end to end, its range, bets/s at the median.
    pub fn time_cells(&self) -> [String; 3] {
        let range = self.e2e_range().filter(|_| self.runs.len() > 1);
        [
            num(self.e2e(), 3),
            range.map_or("—".into(), |(lo, hi)| format!("{lo:.3}–{hi:.3}")),
            self.rate().map_or("—".into(), |r| thousands(r as u64)),
        ]
    }

    /// Whether it ran and passed.
    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Pass)
    }

    /// Whether it ran (passed or failed).
    pub fn ran(&self) -> bool {
        !matches!(self.status, Status::Skipped(_))
    }

    /// The table's result cell.
    pub fn status_cell(&self) -> String {
        let runs = self.runs.len();
        let failed = self.runs.iter().filter(|r| !r.failures.is_empty()).count();
        match &self.status {
            Status::Pass => format!("PASS ({runs}/{runs})"),
            Status::Failed(_) => format!("**FAILED** ({failed}/{runs})"),
            Status::Skipped(_) => "SKIPPED".into(),
        }
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
        let stat = nix::sys::statvfs::statvfs(scratch).ok();
        let free = stat.map(|s| s.blocks_available().saturating_mul(s.fragment_size()));
        let big =
            matches!(plan.source, Source::Generated(n, per) if u64::from(n) * per >= 10_000_000);
        let prepared = if big && free.is_none_or(|f| f < BIG_FREE_BYTES) {
            let free = free.map_or("unknown".into(), |b| format!("{:.1} GB", b as f64 / 1e9));
            let (id, gb) = (&plan.id, BIG_FREE_BYTES / 1_000_000_000);
            let why = format!("{id}: skipped, {free} free on the scratch disk, {gb} GB needed");
            Err(Status::Skipped(why))
        } else {
            eprintln!("bench: preparing data {} ({})", plan.id, plan.label);
            match prepare(ctx, &plan.source, course_dir, &data_dir) {
                Err(RunError::Abort) => return Err(RunError::Abort),
                Err(RunError::Fail(reason)) => {
                    let reason = format!("{}: data preparation failed: {reason}", plan.id);
                    eprintln!("bench: {reason}");
                    notes.push(reason.clone());
                    Err(Status::Failed(vec![reason]))
                }
                Ok(data) => Ok(data),
            }
        };
        let mut runs: Vec<Vec<RunResult>> = plan.configs.iter().map(|_| Vec::new()).collect();
        let (mut agencies, mut bets, mut largest) = match plan.source {
            Source::Generated(n, per_agency) => (n as usize, u64::from(n) * per_agency, (0, 0)),
            _ => (5, 0, (0, 0)),
        };
        let status = match prepared {
            Err(status) => status,
            Ok(data) => {
                let most = data
                    .per_agency
                    .iter()
                    .zip(&data.files)
                    .max_by_key(|(n, _)| **n);
                largest = most.map_or((0, 0), |(n, f)| (*n, f.metadata().map_or(0, |m| m.len())));
                (agencies, bets) = (data.files.len(), data.bets);
                for rep in 1..=plan.runs {
                    for (k, (_, settings)) in plan.configs.iter().enumerate() {
                        done += 1;
                        let result = run_once(ctx, &data, *settings, &scratch.join("run"));
                        let result = result.inspect_err(|_| remove_dir(&data_dir))?;
                        let outcome = match result.e2e.filter(|_| result.failures.is_empty()) {
                            Some(d) => format!("{:.3} s", d.as_secs_f64()),
                            None => format!("FAILED: {}", result.failures.join("; ")),
                        };
                        let (id, how) = (&plan.id, settings.describe());
                        let run = format!("run {rep}/{}", plan.runs);
                        eprintln!("bench: [{done}/{total}] {id}, {how}, {run}: {outcome}");
                        runs[k].push(result);
                    }
                }
                Status::Pass
            }
        };
        remove_dir(&data_dir);
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
