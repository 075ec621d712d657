//! Test data: the course dataset or a generated one, and the exactly-once check of a bets file.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Scratch, GENDATA};

/// The course dataset when it is beside the project, else a generated one.
pub(crate) struct Dataset {
    pub dir: PathBuf,
    pub agencies: u32,
    pub winners: Vec<usize>,
    pub rows: usize,
    _scratch: Option<Scratch>,
}

pub(crate) fn dataset() -> Dataset {
    let course = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/dataset");
    if (1..=5).all(|n| course.join(format!("agency-{n}.csv")).exists()) {
        return Dataset {
            dir: course,
            agencies: 5,
            winners: vec![2, 3, 3, 2, 0],
            rows: 78_697,
            _scratch: None,
        };
    }
    generated(5, 15_000, "dataset")
}

/// A generated dataset, with the winners `gendata` reports.
pub(crate) fn generated(agencies: u32, per_agency: u64, tag: &str) -> Dataset {
    let scratch = Scratch::new(&format!("data-{tag}"));
    let out = Command::new(GENDATA)
        .arg(&scratch.0)
        .arg(agencies.to_string())
        .arg(per_agency.to_string())
        .output()
        .unwrap();
    assert!(out.status.success());
    let winners = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            line.split(": ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    Dataset {
        dir: scratch.0.clone(),
        agencies,
        winners,
        rows: (u64::from(agencies) * per_agency) as usize,
        _scratch: Some(scratch),
    }
}

impl Dataset {
    pub(crate) fn file(&self, agency: u32) -> PathBuf {
        self.dir.join(format!("agency-{agency}.csv"))
    }
}

/// Asserts the bets file holds each agency's file exactly once, in order, byte for byte.
pub(crate) fn assert_stored_exactly_once(bets: &Path, data: &Dataset) {
    let stored = std::fs::read(bets).unwrap();
    let mut per_agency: Vec<Vec<u8>> = vec![Vec::new(); data.agencies as usize + 1];
    for line in stored.split_inclusive(|&b| b == b'\n') {
        let comma = line.iter().position(|&b| b == b',').unwrap();
        let agency: usize = std::str::from_utf8(&line[..comma])
            .unwrap()
            .parse()
            .unwrap();
        per_agency[agency].extend_from_slice(&line[comma + 1..]);
    }
    for agency in 1..=data.agencies {
        let source = std::fs::read(data.file(agency)).unwrap();
        assert!(
            per_agency[agency as usize] == source,
            "agency {agency}: stored rows differ from its file ({} vs {} bytes)",
            per_agency[agency as usize].len(),
            source.len()
        );
    }
}
