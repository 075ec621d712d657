//! `bench`: end-to-end benchmark of the real `server` and `client` binaries of the `tp0` crate on
//! 127.0.0.1, each figure beside the machine's floor for the same work, measured in the same run.
//! `make bench` builds them (and `gendata`, and the floor's `noop`) static-pie, as the images
//! ship them, into `target/x86_64-unknown-linux-gnu/release/`, next to this binary.
//!
//! The [`harness`] starts processes, measures time, CPU and memory, emulates links, generates
//! load, prepares data and runs the floors; each module of [`sections`] is one section of
//! `docs/benchmarks.md` (loopback, agencies, load, far away), owning its plan, table, text and
//! chart; `main` runs them in turn and [`report`] writes the whole. A section's runs and its
//! floor's alternate (repetition-major), so drift spreads over both alike.
//!
//! Usage: `bench [--quick] [--only SECTION] [--out DIR]`. `--quick` is a smoke test that writes
//! to `target/x86_64-unknown-linux-gnu/bench-quick/` unless `--out` says otherwise; `--only`
//! runs one section of [`SECTIONS`] and replaces it alone (and its headline rows) in the existing
//! report. Exit status: 1 if a run FAILED or the bench could not do its work (the reason on
//! stderr), 2 on a bad command line, 130 when interrupted.
#![warn(missing_docs)]

mod canvas;
mod fmt;
mod harness;
mod report;
mod sections;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::harness::machine::{load_average, Machine};
use crate::harness::procs::{raise_fd_limit, remove_dir};
use crate::harness::{fail, Ctx, Result, RunError};
use crate::sections::{Env, Run};

/// Every section, in the report's order.
const SECTIONS: [(&str, Run); 4] = [
    ("loopback", sections::loopback::run),
    ("agencies", sections::agencies::run),
    ("load", sections::load::run),
    ("far", sections::far::run),
];

/// The sections' names, joined by `sep`.
fn names(sep: &str) -> String {
    SECTIONS.map(|s| s.0).join(sep)
}

/// The command line: `--quick`, `--only NAME`, `--out DIR`.
fn parse_args() -> Result<(bool, Option<String>, Option<PathBuf>), String> {
    let (mut quick, mut only, mut out, mut args) = (false, None, None, std::env::args().skip(1));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => {
                let name = args.next().filter(|n| SECTIONS.iter().any(|s| s.0 == n));
                only = Some(name.ok_or(format!("--only takes one of {}", names(", ")))?);
            }
            "--out" => out = Some(PathBuf::from(args.next().ok_or("--out needs a directory")?)),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((quick, only, out))
}

fn main() -> ExitCode {
    let (quick, only, out) = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            let names = names("|");
            eprintln!("bench: {msg}\nusage: bench [--quick] [--only {names}] [--out DIR]");
            return ExitCode::from(2);
        }
    };
    match run(quick, only.as_deref(), out) {
        Ok(passed) => ExitCode::from(u8::from(!passed)),
        Err(RunError::Abort) => {
            eprintln!("bench: interrupted; every process stopped, scratch data removed");
            ExitCode::from(130)
        }
        Err(RunError::Fail(msg)) => {
            eprintln!("bench: {msg}");
            ExitCode::from(1)
        }
    }
}

/// The whole benchmark; `Ok(false)` if some run failed.
fn run(quick: bool, only: Option<&str>, out: Option<PathBuf>) -> Result<bool> {
    let (started, load_start) = (Instant::now(), load_average());
    let exe = std::env::current_exe().map_err(fail("locate the bench binary"))?;
    let bins = exe.parent().map(PathBuf::from).unwrap_or_default();
    for missing in ["server", "client", "client-one-pass", "gendata", "noop"].map(|b| bins.join(b))
    {
        if !missing.is_file() {
            let why = "not found: run `make bench`, which builds it first";
            return Err(format!("{} {why}", missing.display()).into());
        }
    }
    let root = bins.ancestors().find(|d| d.join("Cargo.toml").is_file());
    let root = root.map(Path::to_path_buf).unwrap_or_default();
    let target = bins.parent().unwrap_or(&bins).to_path_buf();
    let scratch = target.join("bench-data");
    let quick_dir = target.join("bench-quick");
    let out_dir = out.unwrap_or(if quick { quick_dir } else { root.join("docs") });
    let course_dir = root.join("../shared/dataset");
    // Clients run in scratch directories: the files they are given must not be relative.
    let course_dir = fs::canonicalize(&course_dir).unwrap_or(course_dir);
    let course = harness::data::course_files(&course_dir).map(|_| course_dir.as_path());
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        let registered = signal_hook::flag::register(signal, Arc::clone(&interrupted));
        registered.map_err(fail(format!("install handler for signal {signal}")))?;
    }
    let ctx = Ctx { bins, interrupted };
    let mut notes = vec![match course {
        Some(_) => "Course dataset read from `../shared/dataset` (never copied into the repo; the \
                    ×20 files are built in scratch space)."
            .to_string(),
        None => format!(
            "The course dataset was not found at {}: the course scenarios use generated data of \
             the same size instead.",
            course_dir.display()
        ),
    }];
    notes.push(raise_fd_limit());
    let (scratch, root) = (scratch.as_path(), root.as_path());
    let env = Env {
        ctx: &ctx,
        quick,
        course,
        scratch,
        root,
    };
    let (mut bodies, mut headline, mut passed) = (Vec::new(), Vec::new(), true);
    remove_dir(scratch);
    let created = fs::create_dir_all(scratch).and_then(|()| fs::create_dir_all(&out_dir));
    created.map_err(fail(format!("create {}", out_dir.display())))?;
    for (name, section) in SECTIONS
        .iter()
        .filter(|s| only.is_none_or(|only| only == s.0))
    {
        let outcome = section(&env).inspect_err(|_| remove_dir(scratch))?;
        if let Some((file, png)) = &outcome.chart {
            let path = out_dir.join(file);
            fs::write(&path, png).map_err(fail(format!("write {}", path.display())))?;
        }
        bodies.push((*name, outcome.body));
        headline.extend(outcome.headline);
        notes.extend(outcome.notes);
        passed &= outcome.passed;
    }
    remove_dir(scratch);
    let md_path = out_dir.join("benchmarks.md");
    let old = fs::read_to_string(&md_path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let machine = Machine::probe(root, load_start);
    let names = if quick { String::new() } else { names("|") };
    let about = report::about(&machine, passed, &notes, started.elapsed(), &names);
    let md = report::write(&old, only.is_none(), quick, &bodies, &headline, &about);
    fs::write(&md_path, md).map_err(fail(format!("write {}", md_path.display())))?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "bench: wrote {} and its charts in {secs:.0} s",
        md_path.display()
    );
    Ok(passed)
}
