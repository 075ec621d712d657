//! The far section's plan and names, and rows like a full run's for the chart's and the
//! text's tests.

use super::*;

/// Rows as a run of the full section might give (the course at every link, 50 agencies far
/// away), for the tests of the chart and the text.
pub(crate) fn sample_rows() -> Vec<Row> {
    use crate::run::RunResult;
    let row = |rtt_ms: Option<u64>, mode: Mode, (agencies, largest): (usize, u64), t: f64| {
        let course = agencies == 5;
        let mut row = row(
            &Group {
                source: Source::Course,
                label: if course { "course" } else { "generated" }.into(),
                links: Vec::new(),
            },
            rtt_ms.map(far_link),
            mode,
            agencies,
            if course { 78_697 } else { 50_000 },
            largest,
        );
        row.largest_bytes = largest * 46;
        row.summary.runs = [t * 0.99, t, t * 1.02]
            .iter()
            .map(|&t| RunResult {
                e2e: Some(Duration::from_secs_f64(t)),
                ..RunResult::default()
            })
            .collect();
        row
    };
    let course = (5, 26_936);
    let mut rows = vec![
        row(None, Mode::Shipped, course, 0.05),
        row(None, Mode::StopAndWait, course, 0.26),
    ];
    for (rtt, shipped, saw) in [
        (0, 0.32, 0.55),
        (10, 0.36, 3.41),
        (25, 0.42, 7.56),
        (50, 0.52, 14.46),
    ] {
        rows.push(row(Some(rtt), Mode::Shipped, course, shipped));
        rows.push(row(Some(rtt), Mode::StopAndWait, course, saw));
    }
    rows.push(row(Some(50), Mode::Shipped, (50, 1_000), 0.40));
    rows.push(row(Some(50), Mode::StopAndWait, (50, 1_000), 0.90));
    rows
}

#[test]
fn plans_and_names() {
    let (groups, runs) = plan(false, true);
    assert_eq!(runs, RUNS);
    assert_eq!(groups[0].source, Source::Course);
    assert_eq!(groups[0].links.len(), SWEEP_MS.len() + 1);
    assert_eq!(link_name(groups[0].links[0]), "none (loopback)");
    assert_eq!(link_name(Some(far_link(50))), "RTT 50 ms, 4 MB/s");
    assert_eq!(far_link(50).delay, Duration::from_millis(25));
    let (quick, runs) = plan(true, true);
    assert_eq!((quick.len(), runs), (1, 1));
    assert!(Mode::StopAndWait
        .client_env()
        .contains(&("CLI_BATCH_WINDOW", "1")));
}
