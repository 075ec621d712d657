//! Measurement: every plan's runs, in repetition-major order (slow drift spreads over all its
//! configurations alike), summarized per configuration (medians, ranges, the largest peaks).

use std::path::Path;

use crate::fmt::{median, thousands};
use crate::harness::ctx::{Ctx, RunError};
use crate::harness::data::{prepare, Source};
use crate::harness::procs::remove_dir;
use crate::harness::run::{run_once, RunResult, Settings};

/// Free space needed before the 10-million-bet data sets are generated.
pub const BIG_FREE_BYTES: u64 = 3_000_000_000;

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

impl Status {
    /// For a failure, its distinct reasons in a row (the first five), as a report lists them.
    pub fn failure_text(&self) -> Option<String> {
        let Status::Failed(reasons) = self else {
            return None;
        };
        let mut reasons = reasons.clone();
        reasons.dedup();
        reasons.truncate(5);
        Some(reasons.join("; "))
    }
}

/// One configuration's runs, summarized; `tag` is what the section knows it by.
pub struct Summary<T> {
    /// The section's name for the configuration.
    pub tag: T,
    /// How it ran.
    pub settings: Settings,
    /// [`Plan::label`].
    pub label: String,
    /// Agencies (clients).
    pub agencies: usize,
    /// Bets sent per run.
    pub bets: u64,
    /// Bets of the largest agency.
    pub largest: u64,
    /// Size in bytes of the largest agency's file.
    pub largest_bytes: u64,
    /// The runs done.
    pub runs: Vec<RunResult>,
    /// Pass, failed or skipped.
    pub status: Status,
}

/// Configurations sharing one data set, run repetition-major.
pub struct Plan<T> {
    /// Stable key, for progress lines and the data's scratch directory.
    pub id: &'static str,
    /// Where the data comes from.
    pub source: Source,
    /// Human description of the data.
    pub label: String,
    /// What to run on it, each with its section's tag.
    pub configs: Vec<(T, Settings)>,
    /// Repetitions.
    pub runs: usize,
    /// Needs [`BIG_FREE_BYTES`] of free disk.
    pub big: bool,
}

impl<T> Summary<T> {
    /// Median end-to-end seconds over the runs that measured one.
    pub fn e2e(&self) -> Option<f64> {
        median(
            self.runs
                .iter()
                .filter_map(|r| r.e2e.map(|d| d.as_secs_f64()))
                .collect(),
        )
    }

    /// Fastest and slowest end-to-end seconds.
    pub fn e2e_range(&self) -> Option<(f64, f64)> {
        let times = self
            .runs
            .iter()
            .filter_map(|r| r.e2e.map(|d| d.as_secs_f64()));
        let (lo, hi) = times.fold((f64::INFINITY, 0.0f64), |(lo, hi), t| {
            (lo.min(t), hi.max(t))
        });
        (lo <= hi).then_some((lo, hi))
    }

    /// Bets per second of the slowest and of the fastest run.
    pub fn rate_range(&self) -> Option<(f64, f64)> {
        let (fast, slow) = self.e2e_range().filter(|(fast, _)| *fast > 0.0)?;
        Some((self.bets as f64 / slow, self.bets as f64 / fast))
    }

    /// Bets per second at the median time.
    pub fn rate(&self) -> Option<f64> {
        self.e2e()
            .filter(|s| *s > 0.0)
            .map(|s| self.bets as f64 / s)
    }

    /// Maximum of an RSS field over the runs.
    pub fn rss(&self, pick: fn(&RunResult) -> Option<u64>) -> Option<u64> {
        self.runs.iter().filter_map(pick).max()
    }

    /// The cells every table shows: median end to end, its range, bets/s at the median.
    pub fn time_cells(&self) -> [String; 3] {
        [
            self.e2e().map_or("—".into(), |t| format!("{t:.3}")),
            match self.e2e_range() {
                Some((lo, hi)) if self.runs.len() > 1 => format!("{lo:.3}–{hi:.3}"),
                _ => "—".into(),
            },
            self.rate().map_or("—".into(), |r| thousands(r as u64)),
        ]
    }

    /// The batch size of a tuned configuration (0 for the others).
    pub fn batch(&self) -> u16 {
        match self.settings {
            Settings::Tuned(_, batch) => batch,
            _ => 0,
        }
    }

    /// The median of one per-run number.
    pub fn median_of(&self, pick: impl Fn(&RunResult) -> Option<f64>) -> Option<f64> {
        median(self.runs.iter().filter_map(pick).collect())
    }

    /// Whether it ran and passed.
    pub fn passed(&self) -> bool {
        matches!(self.status, Status::Pass)
    }

    /// Marks the configuration FAILED, with every run's reasons, if any run failed.
    pub fn settle(&mut self) {
        let reasons: Vec<String> = self
            .runs
            .iter()
            .flat_map(|r| r.failures.iter().cloned())
            .collect();
        if !reasons.is_empty() {
            self.status = Status::Failed(reasons);
        }
    }

    /// The table's result cell.
    pub fn status_cell(&self) -> String {
        match &self.status {
            Status::Pass => format!("PASS ({}/{})", self.runs.len(), self.runs.len()),
            Status::Failed(_) => {
                let failed = self.runs.iter().filter(|r| !r.failures.is_empty()).count();
                format!("**FAILED** ({failed}/{})", self.runs.len())
            }
            Status::Skipped(_) => "SKIPPED".into(),
        }
    }
}

/// Free bytes for unprivileged users on the file system holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    Some((stat.blocks_available() as u64).saturating_mul(stat.fragment_size() as u64))
}

/// Runs every plan; `Err(Abort)` only on interruption. A plan whose data cannot be prepared
/// (the reason goes to `notes`) or that needs more disk than is free gives FAILED or SKIPPED
/// summaries, and the bench goes on.
pub fn measure<T: Clone>(
    ctx: &Ctx,
    plans: &[Plan<T>],
    (course_dir, scratch): (&Path, &Path),
    notes: &mut Vec<String>,
) -> Result<Vec<Summary<T>>, RunError> {
    let total: usize = plans.iter().map(|p| p.configs.len() * p.runs).sum();
    let mut done = 0;
    let mut summaries = Vec::new();
    for plan in plans {
        ctx.check()?;
        let first = summaries.len();
        for (tag, settings) in &plan.configs {
            let (agencies, bets) = match plan.source {
                Source::Generated {
                    agencies,
                    per_agency,
                } => (agencies as usize, u64::from(agencies) * per_agency),
                _ => (5, 0),
            };
            summaries.push(Summary {
                tag: tag.clone(),
                settings: *settings,
                label: plan.label.clone(),
                agencies,
                bets,
                largest: 0,
                largest_bytes: 0,
                runs: Vec::new(),
                status: Status::Pass,
            });
        }
        let free = free_bytes(scratch);
        let lacking = plan.big && free.is_none_or(|f| f < BIG_FREE_BYTES);
        let data_dir = scratch.join(format!("data-{}", plan.id));
        let prepared = if lacking {
            let free = free.map_or("unknown".into(), |b| format!("{:.1} GB", b as f64 / 1e9));
            let gb = BIG_FREE_BYTES / 1_000_000_000;
            Err(Status::Skipped(format!(
                "{}: skipped, {free} free on the scratch disk, {gb} GB needed",
                plan.id
            )))
        } else {
            eprintln!("bench: preparing data {} ({})", plan.id, plan.label);
            match prepare(ctx, &plan.source, course_dir, &data_dir) {
                Ok(data) => Ok(data),
                Err(RunError::Abort) => return Err(RunError::Abort),
                Err(RunError::Fail(reason)) => {
                    let reason = format!("{}: data preparation failed: {reason}", plan.id);
                    eprintln!("bench: {reason}");
                    notes.push(reason.clone());
                    Err(Status::Failed(vec![reason]))
                }
            }
        };
        let data = match prepared {
            Ok(data) => data,
            Err(status) => {
                remove_dir(&data_dir);
                for s in &mut summaries[first..] {
                    s.status = status.clone();
                }
                done += plan.configs.len() * plan.runs;
                continue;
            }
        };
        let (largest, largest_file) = data
            .per_agency
            .iter()
            .zip(&data.files)
            .max_by_key(|(bets, _)| **bets)
            .map_or((0, None), |(bets, file)| (*bets, Some(file)));
        let largest_bytes = largest_file
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        for s in &mut summaries[first..] {
            (s.agencies, s.bets) = (data.files.len(), data.bets);
            (s.largest, s.largest_bytes) = (largest, largest_bytes);
        }
        for rep in 0..plan.runs {
            for (k, (_, settings)) in plan.configs.iter().enumerate() {
                done += 1;
                let result = match run_once(ctx, &data, *settings, &scratch.join("run")) {
                    Ok(result) => result,
                    Err(abort) => {
                        remove_dir(&data_dir);
                        return Err(abort);
                    }
                };
                eprintln!(
                    "bench: [{done}/{total}] {} {} agencies, {} bets, {}, run {}/{}: {}",
                    plan.id,
                    data.files.len(),
                    data.bets,
                    settings.describe(),
                    rep + 1,
                    plan.runs,
                    match (result.failures.is_empty(), result.e2e) {
                        (true, Some(d)) => format!(
                            "{:.3} s, {} bets/s",
                            d.as_secs_f64(),
                            thousands((data.bets as f64 / d.as_secs_f64().max(1e-9)) as u64)
                        ),
                        _ => format!("FAILED: {}", result.failures.join("; ")),
                    }
                );
                summaries[first + k].runs.push(result);
            }
        }
        for summary in &mut summaries[first..] {
            summary.settle();
        }
        remove_dir(&data_dir);
    }
    Ok(summaries)
}
