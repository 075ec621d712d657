//! Scenario data: the course's agency files (read in place or repeated) and generated data
//! sets, each with the winners every agency must be told.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::procs::{Proc, Spawn};
use crate::harness::{fail, for_each_line, Ctx, Result};

/// The number that wins the draw.
pub const WINNING_NUMBER: u32 = 7574;

/// Where a data set comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// The course's agency files: read in place (1), or each concatenated `n` times into scratch
    /// files.
    Course(u32),
    /// `gendata <dir> <agencies> <per agency>`.
    Generated(u32, u64),
}

impl Source {
    /// The course dataset's generated stand-in: five agencies of its size.
    pub const STAND_IN: Source = Source::Generated(5, 15_740);
}

/// A data set ready to send: one CSV per agency, with the expected outcome.
#[derive(Default)]
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

impl Dataset {
    /// The bets of the largest agency, and the size in bytes of its file.
    pub fn largest(&self) -> (u64, u64) {
        let agencies = self.per_agency.iter().zip(&self.files);
        let most = agencies.max_by_key(|(n, _)| **n);
        most.map_or((0, 0), |(n, f)| (*n, f.metadata().map_or(0, |m| m.len())))
    }
}

/// The course's five agency files, if all are there.
pub fn course_files(course_dir: &Path) -> Option<Vec<PathBuf>> {
    let file = |i| course_dir.join(format!("agency-{i}.csv"));
    let files: Vec<PathBuf> = (1..=5).map(file).collect();
    files.iter().all(|f| f.is_file()).then_some(files)
}

/// Counts the rows and the winning rows (number 7574, the last field) of an agency CSV.
fn scan_csv(path: &Path) -> Result<(u64, u64)> {
    let (mut rows, mut winners) = (0, 0);
    for_each_line(path, |line| {
        if !line.trim().is_empty() {
            rows += 1;
            let number = line
                .rsplit(',')
                .next()
                .and_then(|n| n.trim().parse::<u32>().ok());
            winners += u64::from(number == Some(WINNING_NUMBER));
        }
    })?;
    Ok((rows, winners))
}

/// Builds (or locates) a data set; generated files go under `dir`.
pub fn prepare(ctx: &Ctx, source: &Source, course: &Path, dir: &Path) -> Result<Dataset> {
    fs::create_dir_all(dir).map_err(fail(format!("create {}", dir.display())))?;
    let times = match *source {
        Source::Generated(agencies, per_agency) => return generate(ctx, dir, agencies, per_agency),
        Source::Course(times) => u64::from(times),
    };
    let missing = || format!("course dataset missing in {}", course.display());
    let files = course_files(course).ok_or_else(missing)?;
    let mut data = Dataset::default();
    for (i, file) in files.into_iter().enumerate() {
        ctx.check()?;
        let (rows, winners) = scan_csv(&file)?;
        data.bets += rows * times;
        data.per_agency.push(rows * times);
        data.winners.push(winners * times);
        if times == 1 {
            data.files.push(file);
            continue;
        }
        // The copies, with a line break between them if the file lacks a final one.
        let out = dir.join(format!("agency-{}.csv", i + 1));
        let mut text = fs::read(&file).map_err(fail(format!("read {}", file.display())))?;
        if !text.is_empty() && !text.ends_with(b"\n") {
            text.extend_from_slice(b"\r\n");
        }
        let copies = text.repeat(times as usize);
        fs::write(&out, copies).map_err(fail(format!("write {}", out.display())))?;
        data.files.push(out);
    }
    Ok(data)
}

/// Runs `gendata` into `dir` and reads its `agency N: W winners` lines.
fn generate(ctx: &Ctx, dir: &Path, agencies: u32, per_agency: u64) -> Result<Dataset> {
    let (program, out) = (ctx.bin("gendata"), dir.join("gendata.out"));
    let args = [dir.display().to_string(), agencies.to_string()];
    let args = [&args[..], &[per_agency.to_string()]].concat();
    let spawn = Spawn(&program, dir, &out, &args, &[], false);
    let mut proc = Proc::start("gendata", &spawn, false)?;
    let bets = u64::from(agencies) * per_agency;
    let timeout = Duration::from_secs(60) + Duration::from_micros(bets * 3);
    let what = format!("gendata {agencies} {per_agency}");
    match proc.wait_until(ctx, Instant::now() + timeout)? {
        Some(status) if status.success() => {}
        Some(status) => return Err(format!("{what}: {status}").into()),
        None => return Err(format!("{what}: no exit after {}s", timeout.as_secs()).into()),
    }
    // Its lines `agency N: W winners`, in order.
    let mut winners = Vec::new();
    for_each_line(&out, |line| {
        let (head, tail) = line.split_once(": ").unwrap_or_default();
        let is_agency = head.starts_with("agency ");
        let count = tail.strip_suffix(" winners").filter(|_| is_agency);
        winners.extend(count.and_then(|w| w.parse::<u64>().ok()));
    })?;
    if winners.len() != agencies as usize {
        return Err(format!("gendata: missing winner counts in {}", out.display()).into());
    }
    let files = (1..=agencies).map(|i| dir.join(format!("agency-{i}.csv")));
    Ok(Dataset {
        files: files.collect(),
        winners,
        bets,
        per_agency: vec![per_agency; agencies as usize],
    })
}
