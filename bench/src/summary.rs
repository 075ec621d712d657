//! Measurement: every scenario's runs, in repetition-major order, summarized per configuration
//! (medians, ranges, the largest peak memory).

use std::path::Path;

use crate::data::{prepare_group, Source};
use crate::procs::{remove_dir, Ctx, RunError};
use crate::report::thousands;
use crate::run::{run_once, RunResult, Settings, Sync};
use crate::scenarios::{ChartRole, Group};

/// Free space needed before the 10-million-bet data sets are generated.
pub(crate) const BIG_FREE_BYTES: u64 = 3_000_000_000;

/// The outcome of one configuration.
#[derive(Debug)]
pub(crate) enum Status {
    /// Every run passed.
    Pass,
    /// At least one run failed: the reasons.
    Failed(Vec<String>),
    /// Not run: why.
    Skipped(String),
}

impl Status {
    /// For a failure, its distinct reasons in a row (the first five), as a report lists them.
    pub(crate) fn failure_text(&self) -> Option<String> {
        let Status::Failed(reasons) = self else {
            return None;
        };
        let mut reasons = reasons.clone();
        reasons.dedup();
        reasons.truncate(5);
        Some(reasons.join("; "))
    }
}

/// One configuration's runs, summarized.
pub(crate) struct Summary {
    /// [`Group::id`].
    pub group: &'static str,
    /// [`Group::label`].
    pub label: String,
    /// Agencies (clients).
    pub agencies: usize,
    /// Bets sent per run.
    pub bets: u64,
    /// The sync setting.
    pub sync: Sync,
    /// The batch size.
    pub batch: u16,
    /// The runs done.
    pub runs: Vec<RunResult>,
    /// Pass, failed or skipped.
    pub status: Status,
}

/// The median of some numbers.
pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

impl Summary {
    /// Median end-to-end seconds over the runs that measured one.
    pub(crate) fn e2e(&self) -> Option<f64> {
        median(
            self.runs
                .iter()
                .filter_map(|r| r.e2e.map(|d| d.as_secs_f64()))
                .collect(),
        )
    }

    /// Fastest and slowest end-to-end seconds.
    pub(crate) fn e2e_range(&self) -> Option<(f64, f64)> {
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
    pub(crate) fn rate_range(&self) -> Option<(f64, f64)> {
        let (fast, slow) = self.e2e_range().filter(|(fast, _)| *fast > 0.0)?;
        Some((self.bets as f64 / slow, self.bets as f64 / fast))
    }

    /// Bets per second at the median time.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.e2e()
            .filter(|s| *s > 0.0)
            .map(|s| self.bets as f64 / s)
    }

    /// Bets per second if the configuration passed.
    pub(crate) fn passed_rate(&self) -> Option<f64> {
        matches!(self.status, Status::Pass)
            .then(|| self.rate())
            .flatten()
    }

    /// Median draw time.
    pub(crate) fn draw_ms(&self) -> Option<f64> {
        median(
            self.runs
                .iter()
                .filter_map(|r| r.draw_us.map(|us| us as f64 / 1000.0))
                .collect(),
        )
    }

    /// Maximum of an RSS field over the runs.
    pub(crate) fn rss(&self, pick: fn(&RunResult) -> Option<u64>) -> Option<u64> {
        self.runs.iter().filter_map(pick).max()
    }

    /// Marks the configuration FAILED, with every run's reasons, if any run failed.
    pub(crate) fn settle(&mut self) {
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
    pub(crate) fn status_cell(&self) -> String {
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

/// Runs every group; `Err(Abort)` only on interruption.
pub(crate) fn run_plan(
    ctx: &Ctx,
    groups: &[Group],
    course_dir: &Path,
    scratch: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Summary>, RunError> {
    let total: usize = groups.iter().map(|g| g.configs.len() * g.runs).sum();
    let mut done = 0;
    let mut summaries = Vec::new();
    for group in groups {
        ctx.check()?;
        let data_dir = scratch.join(format!("data-{}", group.id));
        let skip = |reason: String, summaries: &mut Vec<Summary>| {
            for &(sync, batch) in &group.configs {
                summaries.push(Summary {
                    group: group.id,
                    label: group.label.clone(),
                    agencies: match group.source {
                        Source::Generated { agencies, .. } => agencies as usize,
                        _ => 5,
                    },
                    bets: match group.source {
                        Source::Generated {
                            agencies,
                            per_agency,
                        } => u64::from(agencies) * per_agency,
                        _ => 0,
                    },
                    sync,
                    batch,
                    runs: Vec::new(),
                    status: Status::Skipped(reason.clone()),
                });
            }
        };
        if group.big {
            match free_bytes(scratch) {
                Some(free) if free >= BIG_FREE_BYTES => {}
                free => {
                    let reason = format!(
                        "{}: skipped, {} free on the scratch disk, {} GB needed",
                        group.id,
                        free.map_or("unknown".into(), |b| format!("{:.1} GB", b as f64 / 1e9)),
                        BIG_FREE_BYTES / 1_000_000_000
                    );
                    eprintln!("bench: {reason}");
                    skip(reason, &mut summaries);
                    done += group.configs.len() * group.runs;
                    continue;
                }
            }
        }
        let prepared = prepare_group(
            ctx,
            &group.source,
            course_dir,
            &data_dir,
            (group.id, &group.label),
        )?;
        let data = match prepared {
            Ok(data) => data,
            Err(reason) => {
                notes.push(reason.clone());
                let first = summaries.len();
                skip(reason.clone(), &mut summaries);
                for s in &mut summaries[first..] {
                    s.status = Status::Failed(vec![reason.clone()]);
                }
                done += group.configs.len() * group.runs;
                continue;
            }
        };
        let first = summaries.len();
        for &(sync, batch) in &group.configs {
            summaries.push(Summary {
                group: group.id,
                label: group.label.clone(),
                agencies: data.files.len(),
                bets: data.bets,
                sync,
                batch,
                runs: Vec::new(),
                status: Status::Pass,
            });
        }
        // Repetition-major order, so slow drift spreads over all configurations alike.
        for rep in 0..group.runs {
            for (k, &(sync, batch)) in group.configs.iter().enumerate() {
                done += 1;
                let run_dir = scratch.join("run");
                let settings = if group.chart == Some(ChartRole::Scale) {
                    Settings::Shipped
                } else {
                    Settings::Tuned(sync, batch)
                };
                let result = match run_once(ctx, &data, settings, &run_dir) {
                    Ok(result) => result,
                    Err(abort) => {
                        remove_dir(&data_dir);
                        return Err(abort);
                    }
                };
                eprintln!(
                    "bench: [{done}/{total}] {} {} agencies, {} bets, {}, batch {batch}, run {}/{}: {}",
                    group.id,
                    data.files.len(),
                    data.bets,
                    sync.name(),
                    rep + 1,
                    group.runs,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
