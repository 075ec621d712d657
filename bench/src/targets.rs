//! The evaluation of the targets against the summaries.

use crate::report::{mib, thousands};
use crate::run::Sync;
use crate::scenarios::DEFAULT_BATCH;
use crate::summary::{Status, Summary};

/// One MiB in KiB, for the RSS targets.
const MIB_KB: u64 = 1024;

/// Verdict of one target.
pub(crate) struct Target {
    /// PASS, MISS or SKIPPED.
    pub verdict: &'static str,
    /// What was asked and what was measured.
    pub text: String,
}

/// Finds a configuration's summary.
pub(crate) fn find<'a>(
    summaries: &'a [Summary],
    group: &str,
    sync: Sync,
    batch: u16,
) -> Option<&'a Summary> {
    summaries
        .iter()
        .find(|s| s.group == group && s.sync == sync && s.batch == batch)
}

/// Whether a configuration actually ran.
fn ran(summary: &&Summary) -> bool {
    !matches!(summary.status, Status::Skipped(_))
}

/// Evaluates the targets.
pub(crate) fn targets(summaries: &[Summary]) -> Vec<Target> {
    let mut out = Vec::new();
    let rate_target = |out: &mut Vec<Target>, what: &str, min: f64, cands: Vec<&Summary>| {
        if cands.is_empty() {
            out.push(Target {
                verdict: "SKIPPED",
                text: format!("{what}: not run"),
            });
            return;
        }
        let failed = cands.iter().any(|s| !matches!(s.status, Status::Pass));
        let worst = cands
            .iter()
            .filter_map(|s| s.rate())
            .fold(f64::INFINITY, f64::min);
        let measured: Vec<String> = cands
            .iter()
            .map(|s| {
                format!(
                    "{} ({} bets): {}",
                    s.label,
                    thousands(s.bets),
                    s.passed_rate().map_or("FAILED".into(), |r| format!(
                        "{} bets/s",
                        thousands(r as u64)
                    ))
                )
            })
            .collect();
        out.push(Target {
            verdict: if !failed && worst >= min {
                "PASS"
            } else {
                "MISS"
            },
            text: format!("{what}: {}", measured.join("; ")),
        });
    };

    let x20: Vec<&Summary> = find(summaries, "course-x20", Sync::Durable, DEFAULT_BATCH)
        .into_iter()
        .filter(ran)
        .collect();
    rate_target(
        &mut out,
        "≥ 2,000,000 bets/s, 5 agencies, course dataset ×20, durable, batch 120",
        2_000_000.0,
        x20,
    );

    let fifty: Vec<&Summary> = summaries
        .iter()
        .filter(|s| {
            s.group.starts_with("gen-")
                && s.agencies == 50
                && s.sync == Sync::Durable
                && s.batch == DEFAULT_BATCH
        })
        .filter(ran)
        .collect();
    rate_target(
        &mut out,
        "≥ 1,000,000 bets/s, 50 agencies, generated data, durable, batch 120",
        1_000_000.0,
        fifty,
    );

    match find(summaries, "course", Sync::Durable, DEFAULT_BATCH).filter(ran) {
        None => out.push(Target {
            verdict: "SKIPPED",
            text: "course dataset end to end ≤ 0.25 s: not run".into(),
        }),
        Some(s) => {
            let e2e = s.e2e();
            let ok = matches!(s.status, Status::Pass) && e2e.is_some_and(|t| t <= 0.25);
            out.push(Target {
                verdict: if ok { "PASS" } else { "MISS" },
                text: format!(
                    "course dataset end to end ≤ 0.25 s ({}, durable, batch 120): {}",
                    s.label,
                    match (&s.status, e2e) {
                        (Status::Pass, Some(t)) => format!("{t:.3} s"),
                        _ => "FAILED".into(),
                    }
                ),
            });
        }
    }

    let ran_any: Vec<&Summary> = summaries.iter().filter(ran).collect();
    if ran_any.is_empty() {
        out.push(Target {
            verdict: "SKIPPED",
            text: "session child and client < 8 MiB RSS: nothing ran".into(),
        });
    } else {
        let session = ran_any
            .iter()
            .filter_map(|s| s.rss(|r| r.rss_session))
            .max();
        let client = ran_any.iter().filter_map(|s| s.rss(|r| r.rss_client)).max();
        let ok = |v: Option<u64>| v.is_some_and(|kb| kb < 8 * MIB_KB);
        out.push(Target {
            verdict: if ok(session) && ok(client) {
                "PASS"
            } else {
                "MISS"
            },
            text: format!(
                "session child and client < 8 MiB RSS, every size: largest session {} MiB, largest client {} MiB",
                mib(session),
                mib(client)
            ),
        });
    }

    let big: Vec<&Summary> = summaries
        .iter()
        .filter(|s| s.group.starts_with("gen-10m"))
        .filter(ran)
        .collect();
    if big.is_empty() {
        out.push(Target {
            verdict: "SKIPPED",
            text: "coordinator < 16 MiB at 10 million bets: not run".into(),
        });
    } else {
        let coord = big
            .iter()
            .filter_map(|s| s.rss(|r| r.rss_coordinator))
            .max();
        out.push(Target {
            verdict: if coord.is_some_and(|kb| kb < 16 * MIB_KB) {
                "PASS"
            } else {
                "MISS"
            },
            text: format!(
                "coordinator < 16 MiB at 10 million bets: largest {} MiB",
                mib(coord)
            ),
        });
    }
    out
}
