//! The agencies section: many agencies at once with the shipped defaults (1,000 generated bets
//! each), its table, its targets and its place in `docs/benchmarks.md` (between two markers, so
//! `bench --only agencies` can replace it alone).

use std::fmt::Write as _;

use crate::report::{merge_section, mib, thousands};
use crate::run::RunResult;
use crate::summary::{median, Status, Summary};
use crate::targets::Target;

/// Opens the section in the report.
pub(crate) const BEGIN: &str = "<!-- agencies:begin -->";
/// Closes the section in the report.
pub(crate) const END: &str = "<!-- agencies:end -->";
/// The section's chart, next to the report.
pub(crate) const CHART: &str = "benchmarks-agencies.png";

/// Whether a summary belongs to the agencies section.
pub(crate) fn is_scale(summary: &Summary) -> bool {
    summary.group.starts_with("agencies-")
}

/// Median milliseconds of end to end per agency.
pub(crate) fn per_agency_ms(s: &Summary) -> Option<f64> {
    Some(s.e2e()? * 1000.0 / s.agencies.max(1) as f64)
}

/// The median of one per-run number.
fn run_median(s: &Summary, pick: impl Fn(&RunResult) -> Option<f64>) -> Option<f64> {
    median(s.runs.iter().filter_map(pick).collect())
}

/// The section's table.
pub(crate) fn table(summaries: &[&Summary]) -> String {
    let mut out = String::from(
        "| Agencies | Bets | End to end (s) | Range (s) | Bets/s | Per agency (ms) | CPU per agency (ms) | Spawning clients (s) \
         | Listen overflows | Client reconnects | RSS parent | RSS coordinator | RSS session \
         | RSS client | Load (1 min) | Result |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let opt = |v: Option<f64>, digits: usize| v.map_or("—".into(), |v| format!("{v:.digits$}"));
    for s in summaries {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(s.agencies as u64),
            thousands(s.bets),
            opt(s.e2e(), 3),
            match s.e2e_range() {
                Some((lo, hi)) if s.runs.len() > 1 => format!("{lo:.3}–{hi:.3}"),
                _ => "—".into(),
            },
            s.rate().map_or("—".into(), |r| thousands(r as u64)),
            opt(per_agency_ms(s), 2),
            opt(
                run_median(s, |r| r
                    .cpu
                    .map(|d| d.as_secs_f64() * 1000.0 / s.agencies.max(1) as f64)),
                2
            ),
            opt(run_median(s, |r| r.spawn.map(|d| d.as_secs_f64())), 3),
            opt(run_median(s, |r| r.listen_overflows.map(|n| n as f64)), 0),
            opt(run_median(s, |r| Some(r.reconnects as f64)), 0),
            mib(s.rss(|r| r.rss_server)),
            mib(s.rss(|r| r.rss_coordinator)),
            mib(s.rss(|r| r.rss_session)),
            mib(s.rss(|r| r.rss_client)),
            opt(run_median(s, |r| r.load), 1),
            s.status_cell(),
        );
    }
    out
}

/// The targets for many agencies.
pub(crate) fn targets(summaries: &[&Summary]) -> Vec<Target> {
    let mut out = Vec::new();
    let at = |n: usize| summaries.iter().find(|s| s.agencies == n);
    for (n, limit) in [(1_000, 3.0), (3_000, 8.0)] {
        let what = format!("{} agencies end to end ≤ {limit:.0} s", thousands(n as u64));
        out.push(
            match at(n).filter(|s| !matches!(s.status, Status::Skipped(_))) {
                None => Target {
                    verdict: "SKIPPED",
                    text: format!("{what}: not run"),
                },
                Some(s) => {
                    let ok =
                        matches!(s.status, Status::Pass) && s.e2e().is_some_and(|t| t <= limit);
                    Target {
                        verdict: if ok { "PASS" } else { "MISS" },
                        text: format!(
                            "{what}: {}",
                            match (&s.status, s.e2e()) {
                                (Status::Pass, Some(t)) => format!("{t:.3} s"),
                                _ => "FAILED".into(),
                            }
                        ),
                    }
                }
            },
        );
    }
    let flat: Vec<(usize, f64)> = summaries
        .iter()
        .filter(|s| s.agencies >= 50 && matches!(s.status, Status::Pass))
        .filter_map(|s| Some((s.agencies, per_agency_ms(s)?)))
        .collect();
    if flat.len() < 2 {
        out.push(Target {
            verdict: "SKIPPED",
            text: "time per agency flat from 50 to 3,000 agencies: fewer than two sizes ran".into(),
        });
    } else {
        let lo = flat.iter().map(|(_, t)| *t).fold(f64::INFINITY, f64::min);
        let hi = flat.iter().map(|(_, t)| *t).fold(0.0, f64::max);
        let list: Vec<String> = flat
            .iter()
            .map(|(n, t)| format!("{n}: {t:.2} ms"))
            .collect();
        out.push(Target {
            verdict: if hi <= 1.5 * lo { "PASS" } else { "MISS" },
            text: format!(
                "time per agency flat from 50 to 3,000 agencies (slowest ≤ 1.5 × fastest): {} \
                 (ratio {:.2})",
                list.join(", "),
                hi / lo.max(1e-9)
            ),
        });
    }
    let ran: Vec<&&Summary> = summaries
        .iter()
        .filter(|s| !matches!(s.status, Status::Skipped(_)))
        .collect();
    for (name, pick) in [
        (
            "parent",
            (|r: &RunResult| r.rss_server) as fn(&RunResult) -> Option<u64>,
        ),
        ("coordinator", |r: &RunResult| r.rss_coordinator),
    ] {
        let points: Vec<(usize, u64)> = ran
            .iter()
            .filter_map(|s| Some((s.agencies, s.rss(pick)?)))
            .collect();
        let (Some(first), Some(last)) = (points.first(), points.last()) else {
            continue;
        };
        if points.len() < 2 {
            continue;
        }
        let grew = last.1.saturating_sub(first.1);
        out.push(Target {
            verdict: if grew < 2 * 1024 { "PASS" } else { "MISS" },
            text: format!(
                "{name} memory flat in the number of agencies (grows < 2 MiB from {} to {}): \
                 {} → {} MiB",
                first.0,
                last.0,
                mib(Some(first.1)),
                mib(Some(last.1))
            ),
        });
    }
    out
}

/// The whole section, markers included; `load` is the 1/5/15-minute load average at its start
/// and end, `stamp` the date and commit.
pub(crate) fn section(
    summaries: &[&Summary],
    load: (&str, &str),
    stamp: &str,
    runs: usize,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{BEGIN}");
    md.push_str("## Agencies\n\n");
    let _ = writeln!(
        md,
        "Many agencies at once, 1,000 generated bets each, with the **shipped defaults**: the \
         server is told only `SERVER_PORT=0`, `AGENCIES` (the count) and `BETS_FILE` (scratch), \
         each client only `CLI_ID`, `CLI_MODE=agency`, `CLI_SERVER_ADDRESS` and `CLI_DATA_FILE`; \
         everything else (SYNC=true, backlog, MAX_SESSIONS, batch 120, log levels) is the built-in \
         default. {} Per agency = end to end / agencies. CPU per agency = user + system CPU time of every \
         process of the run (server, its children, the clients; `RUSAGE_CHILDREN` of the bench) / \
         agencies: unlike the times, it does not grow with the machine's load. Spawning clients = the bench's own time \
         to start them all (part of end to end: clients start while earlier ones already run). \
         Listen overflows = the kernel's `TcpExt: ListenOverflows` during the run (a full accept \
         queue drops the SYN, which the client's kernel resends after 1 s); client reconnects = \
         `action: reconnect` lines in all clients' logs. Every run is checked as in Correctness above, \
         and also that no process of the server's group (sessions, coordinator) is left once the \
         server has exited after SIGTERM. Load = 1-minute load average at the end \
         of the run, on a 2-CPU machine shared with other jobs; it counts the run's own processes \
         too (at 3,000 agencies, thousands of clients and sessions are runnable at once), so at \
         the larger sizes it says little about other jobs. The bench starts the clients one after \
         the other, each with a bare `fork` and `exec`, {} CPU per agency is the product's own \
         work.\n",
        if runs > 1 {
            format!("Each size ran {runs} times: medians, RSS the maximum.")
        } else {
            "Each size ran once.".into()
        },
        if summaries.iter().flat_map(|s| &s.runs).all(|r| r.spawn_urgent) {
            "from a thread under `SCHED_FIFO` with `SCHED_RESET_ON_FORK`: without it each start \
             queued for a CPU behind the thousands of processes already running (9 s of the 11 s \
             of 3,000 agencies went to starting them), while each client runs as an ordinary \
             process, like the server."
        } else {
            "from an ordinary thread (the bench was not allowed `SCHED_FIFO`, which needs \
             `CAP_SYS_NICE`), so each start queues for a CPU behind the processes already running \
             and at 1,000 agencies and more starting them is most of end to end, while"
        }
    );
    md.push_str(&table(summaries));
    let _ = writeln!(
        md,
        "\n![Time per agency against agencies, shipped defaults]({CHART})\n"
    );
    for t in targets(summaries) {
        let _ = writeln!(md, "- **{}** — {}", t.verdict, t.text);
    }
    for s in summaries {
        if let Some(reasons) = s.status.failure_text() {
            let _ = writeln!(md, "- FAILED: {} agencies: {reasons}", s.agencies);
        }
    }
    let _ = writeln!(
        md,
        "\nMeasured {stamp}; load average (1/5/15 min) {} at the start of the section, {} at its \
         end. Only this section: `make bench BENCH_ARGS='--only agencies'`.\n",
        load.0, load.1
    );
    let _ = writeln!(md, "{END}");
    md
}

/// `report` with its agencies section replaced by `section` (or added before `## Targets`, or
/// at the end, when it has none).
pub(crate) fn merge(report: &str, section: &str) -> String {
    merge_section(report, section, (BEGIN, END), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_or_inserts() {
        let section = format!("{BEGIN}\nnew\n{END}\n");
        let old = format!("# B\n\n{BEGIN}\nold\n{END}\n## Targets\n");
        assert_eq!(
            merge(&old, &section),
            format!("# B\n\n{section}## Targets\n")
        );
        assert_eq!(
            merge("# B\n## Targets\n", &section),
            format!("# B\n{section}\n## Targets\n")
        );
        assert_eq!(merge("# B\n", &section), format!("# B\n\n{section}"));
    }
}
