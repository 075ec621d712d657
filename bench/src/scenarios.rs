//! The scenarios: which data sets run, at which sync settings and batch sizes, how often, and
//! where each appears in the chart.

use crate::data::Source;
use crate::run::Sync;

/// Repetitions of the course dataset in the "×20" data set.
pub(crate) const COURSE_REPEAT: u32 = 20;
/// The client's default batch size.
pub(crate) const DEFAULT_BATCH: u16 = 120;

/// What a group of configurations is plotted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChartRole {
    /// One category of the "against agencies" panel.
    Agencies,
    /// The "against batch size" panel.
    Batches,
    /// The agencies section (shipped defaults, 1,000 bets per agency): its own table and chart.
    Scale,
}

/// Agency counts of the agencies section.
pub(crate) const SCALE_AGENCIES: [u32; 5] = [5, 50, 200, 1_000, 3_000];
/// Agency counts of the agencies section in `--quick`.
pub(crate) const SCALE_AGENCIES_QUICK: [u32; 1] = [200];
/// Bets per agency in the agencies section.
pub(crate) const SCALE_BETS: u64 = 1_000;

/// The agencies section: every count in `counts`, durable (the shipped `SYNC`), default batch.
pub(crate) fn scale_groups(counts: &[u32], runs: usize) -> Vec<Group> {
    counts
        .iter()
        .map(|&agencies| Group {
            id: scale_id(agencies),
            source: Source::Generated {
                agencies,
                per_agency: SCALE_BETS,
            },
            label: "generated, 1,000 bets per agency, shipped defaults".into(),
            configs: vec![(Sync::Durable, DEFAULT_BATCH)],
            runs,
            big: false,
            chart: Some(ChartRole::Scale),
        })
        .collect()
}

/// The stable id of an agencies-section group.
fn scale_id(agencies: u32) -> &'static str {
    match agencies {
        5 => "agencies-5",
        50 => "agencies-50",
        200 => "agencies-200",
        1_000 => "agencies-1000",
        3_000 => "agencies-3000",
        _ => "agencies-other",
    }
}

/// Configurations sharing one data set.
pub(crate) struct Group {
    /// Stable key used by the targets.
    pub id: &'static str,
    /// Where the data comes from.
    pub source: Source,
    /// Human description of the data.
    pub label: String,
    /// Sync settings × batch sizes to run.
    pub configs: Vec<(Sync, u16)>,
    /// Repetitions.
    pub runs: usize,
    /// Needs [`crate::summary::BIG_FREE_BYTES`] of free disk.
    pub big: bool,
    /// Its place in the chart, if any.
    pub chart: Option<ChartRole>,
}

/// Durable and relaxed at one batch size.
fn both(batch: u16) -> Vec<(Sync, u16)> {
    vec![(Sync::Durable, batch), (Sync::Relaxed, batch)]
}

/// Durable and relaxed at each batch size.
fn sweep(batches: &[u16]) -> Vec<(Sync, u16)> {
    batches.iter().flat_map(|&b| both(b)).collect()
}

/// The configurations to run; `course_present` picks generated stand-ins otherwise.
pub(crate) fn plan(quick: bool, course_present: bool) -> Vec<Group> {
    let course = if course_present {
        Source::Course
    } else {
        Source::Generated {
            agencies: 5,
            per_agency: 15_740,
        }
    };
    let course_x20 = if course_present {
        Source::CourseRepeated(COURSE_REPEAT)
    } else {
        Source::Generated {
            agencies: 5,
            per_agency: 314_788,
        }
    };
    let stand_in = if course_present {
        ""
    } else {
        " (generated stand-in: course dataset absent)"
    };
    let gen = |agencies: u32, per_agency: u64| Source::Generated {
        agencies,
        per_agency,
    };
    if quick {
        let mut groups = vec![
            Group {
                id: "course",
                source: course,
                label: format!("course{stand_in}"),
                configs: sweep(&[30, DEFAULT_BATCH]),
                runs: 1,
                big: false,
                chart: Some(ChartRole::Batches),
            },
            Group {
                id: "gen-200k-5",
                source: gen(5, 40_000),
                label: "generated 200k".into(),
                configs: both(DEFAULT_BATCH),
                runs: 1,
                big: false,
                chart: Some(ChartRole::Agencies),
            },
            Group {
                id: "gen-200k-50",
                source: gen(50, 4_000),
                label: "generated 200k".into(),
                configs: both(DEFAULT_BATCH),
                runs: 1,
                big: false,
                chart: Some(ChartRole::Agencies),
            },
        ];
        groups.extend(scale_groups(&SCALE_AGENCIES_QUICK, 1));
        return groups;
    }
    let mut groups = vec![
        Group {
            id: "course",
            source: course,
            label: format!("course{stand_in}"),
            configs: both(DEFAULT_BATCH),
            runs: 3,
            big: false,
            chart: None,
        },
        Group {
            id: "course-x20",
            source: course_x20,
            label: format!("course ×{COURSE_REPEAT}{stand_in}"),
            configs: sweep(&[30, 60, DEFAULT_BATCH, 140]),
            runs: 3,
            big: false,
            chart: Some(ChartRole::Batches),
        },
        Group {
            id: "gen-1m-5",
            source: gen(5, 200_000),
            label: "generated 1M".into(),
            configs: both(DEFAULT_BATCH),
            runs: 3,
            big: false,
            chart: Some(ChartRole::Agencies),
        },
        Group {
            id: "gen-1m-50",
            source: gen(50, 20_000),
            label: "generated 1M".into(),
            configs: both(DEFAULT_BATCH),
            runs: 3,
            big: false,
            chart: Some(ChartRole::Agencies),
        },
        Group {
            id: "gen-10m-5",
            source: gen(5, 2_000_000),
            label: "generated 10M".into(),
            configs: both(DEFAULT_BATCH),
            runs: 1,
            big: true,
            chart: None,
        },
        Group {
            id: "gen-10m-50",
            source: gen(50, 200_000),
            label: "generated 10M".into(),
            configs: both(DEFAULT_BATCH),
            runs: 1,
            big: true,
            chart: None,
        },
    ];
    groups.extend(scale_groups(&SCALE_AGENCIES, 3));
    groups
}
