//! Scenario data: the course's agency files (read in place or repeated) and generated data
//! sets, each with the winners every agency must be told.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::ctx::{fail, Ctx, RunError};
use crate::harness::logs::for_each_line;
use crate::harness::procs::{describe, Proc, Spawn};

/// The number the draw picks (the course's `has_won`).
pub const WINNING_NUMBER: u32 = 7574;

/// Where a data set comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The course's agency files, read in place.
    Course,
    /// The course's agency files, each concatenated `n` times into scratch files.
    CourseRepeated(u32),
    /// `gendata <dir> <agencies> <per_agency>`.
    Generated {
        /// Agencies (files).
        agencies: u32,
        /// Bets in each file.
        per_agency: u64,
    },
}

/// A data set ready to send: one CSV per agency, with the expected outcome.
pub struct Dataset {
    /// Agency `i + 1` sends `files[i]`.
    pub files: Vec<PathBuf>,
    /// Winners per agency.
    pub winners: Vec<u64>,
    /// Bets in all files.
    pub bets: u64,
    /// Bets in each agency's file.
    pub per_agency: Vec<u64>,
}

/// Counts the rows and the winning rows of an agency CSV (no header; number is the last field).
pub fn scan_csv(path: &Path) -> Result<(u64, u64), RunError> {
    let (mut rows, mut winners) = (0, 0);
    for_each_line(path, |line| {
        if line.trim().is_empty() {
            return;
        }
        rows += 1;
        let number = line.rsplit(',').next().unwrap_or_default().trim();
        if number.parse::<u32>().ok() == Some(WINNING_NUMBER) {
            winners += 1;
        }
    })?;
    Ok((rows, winners))
}

/// The course's five agency files, if all are there.
pub fn course_files(course_dir: &Path) -> Option<Vec<PathBuf>> {
    let files: Vec<PathBuf> = (1..=5)
        .map(|i| course_dir.join(format!("agency-{i}.csv")))
        .collect();
    files.iter().all(|f| f.is_file()).then_some(files)
}

/// Builds (or locates) a data set; generated files go under `dir`.
pub fn prepare(
    ctx: &Ctx,
    source: &Source,
    course_dir: &Path,
    dir: &Path,
) -> Result<Dataset, RunError> {
    match source {
        Source::Course => {
            let files = course_files(course_dir).ok_or_else(|| {
                RunError::Fail(format!(
                    "course dataset missing in {}",
                    course_dir.display()
                ))
            })?;
            let mut data = Dataset {
                files: Vec::new(),
                winners: Vec::new(),
                bets: 0,
                per_agency: Vec::new(),
            };
            for file in files {
                let (rows, winners) = scan_csv(&file)?;
                data.bets += rows;
                data.per_agency.push(rows);
                data.winners.push(winners);
                data.files.push(file);
            }
            Ok(data)
        }
        Source::CourseRepeated(times) => {
            let base = prepare(ctx, &Source::Course, course_dir, dir)?;
            fs::create_dir_all(dir).map_err(fail(format!("create {}", dir.display())))?;
            let mut files = Vec::new();
            for (i, src) in base.files.iter().enumerate() {
                ctx.check()?;
                let out = dir.join(format!("agency-{}.csv", i + 1));
                repeat_file(src, &out, *times)?;
                files.push(out);
            }
            Ok(Dataset {
                files,
                winners: base.winners.iter().map(|w| w * u64::from(*times)).collect(),
                bets: base.bets * u64::from(*times),
                per_agency: base
                    .per_agency
                    .iter()
                    .map(|n| n * u64::from(*times))
                    .collect(),
            })
        }
        Source::Generated {
            agencies,
            per_agency,
        } => generate(ctx, dir, *agencies, *per_agency),
    }
}

/// Writes `src` `times` over into `out`, with a line break between copies if `src` lacks a
/// final one. File to file (`io::copy`), so the bench's own memory stays small.
pub fn repeat_file(src: &Path, out: &Path, times: u32) -> Result<(), RunError> {
    let read_err = || fail(format!("read {}", src.display()));
    let write_err = || fail(format!("write {}", out.display()));
    let mut input = File::open(src).map_err(read_err())?;
    let len = input.metadata().map_err(read_err())?.len();
    let mut last = [b'\n'];
    if len > 0 {
        input.seek(SeekFrom::Start(len - 1)).map_err(read_err())?;
        input.read_exact(&mut last).map_err(read_err())?;
    }
    let mut output = File::create(out).map_err(write_err())?;
    for _ in 0..times {
        input.seek(SeekFrom::Start(0)).map_err(read_err())?;
        std::io::copy(&mut input, &mut output).map_err(write_err())?;
        if last[0] != b'\n' {
            output.write_all(b"\r\n").map_err(write_err())?;
        }
    }
    Ok(())
}

/// Runs `gendata` into `dir` and reads its `agency N: W winners` lines.
pub fn generate(
    ctx: &Ctx,
    dir: &Path,
    agencies: u32,
    per_agency: u64,
) -> Result<Dataset, RunError> {
    fs::create_dir_all(dir).map_err(fail(format!("create {}", dir.display())))?;
    let out_path = dir.join("gendata.out");
    let args = [
        dir.display().to_string(),
        agencies.to_string(),
        per_agency.to_string(),
    ];
    let spawn = Spawn {
        program: &ctx.bin("gendata"),
        args: &args,
        dir,
        env: &[],
        log: &out_path,
        inherit_nofile: false,
    };
    let mut proc = Proc::start("gendata", &spawn, false)?;
    let bets = u64::from(agencies) * per_agency;
    let timeout = Duration::from_secs(60) + Duration::from_micros(bets * 3);
    match proc.wait_until(ctx, Instant::now() + timeout)? {
        Some(status) if status.success() => {}
        Some(status) => {
            return Err(RunError::Fail(format!(
                "gendata {agencies} {per_agency}: {}",
                describe(status)
            )))
        }
        None => {
            return Err(RunError::Fail(format!(
                "gendata {agencies} {per_agency}: no exit after {}s",
                timeout.as_secs()
            )))
        }
    }
    let text =
        fs::read_to_string(&out_path).map_err(fail(format!("read {}", out_path.display())))?;
    let mut winners = vec![None; agencies as usize];
    for line in text.lines() {
        // "agency N: W winners"
        let parsed = line
            .strip_prefix("agency ")
            .and_then(|rest| rest.split_once(": "))
            .and_then(|(n, w)| {
                Some((
                    n.parse::<usize>().ok()?,
                    w.strip_suffix(" winners")?.parse::<u64>().ok()?,
                ))
            });
        if let Some((n, w)) = parsed {
            if let Some(slot) = n.checked_sub(1).and_then(|i| winners.get_mut(i)) {
                *slot = Some(w);
            }
        }
    }
    let winners: Option<Vec<u64>> = winners.into_iter().collect();
    let winners = winners.ok_or_else(|| {
        RunError::Fail(format!(
            "gendata: missing winner counts in {}",
            out_path.display()
        ))
    })?;
    Ok(Dataset {
        files: (1..=agencies)
            .map(|i| dir.join(format!("agency-{i}.csv")))
            .collect(),
        winners,
        bets,
        per_agency: vec![per_agency; agencies as usize],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::procs::remove_dir;

    #[test]
    fn repeat_file_adds_missing_line_breaks() {
        let dir = std::env::temp_dir().join(format!("tp0-bench-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap_or_default();
        let (src, out) = (dir.join("in.csv"), dir.join("out.csv"));
        for (text, want) in [
            ("a,1\r\nb,2", "a,1\r\nb,2\r\na,1\r\nb,2\r\n"),
            ("a,1\r\n", "a,1\r\na,1\r\n"),
            ("", ""),
        ] {
            fs::write(&src, text).unwrap_or_default();
            assert!(repeat_file(&src, &out, 2).is_ok());
            assert_eq!(fs::read_to_string(&out).unwrap_or_default(), want);
        }
        assert!(matches!(scan_csv(&out), Ok((0, 0))));
        fs::write(&src, "x,7574\r\ny,12\r\n\r\nz, 7574 \r\n").unwrap_or_default();
        assert!(matches!(scan_csv(&src), Ok((3, 2))));
        remove_dir(&dir);
    }
}
