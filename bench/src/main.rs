//! `bench`: end-to-end benchmark of the real `server` and `client` binaries of the `tp0` crate on
//! 127.0.0.1, each figure beside the machine's floor for the same work, measured in the same run.
//! `make bench` builds them (and `gendata`, and the floor's `noop`) static-pie, as the images
//! ship them, into `target/x86_64-unknown-linux-gnu/release/`, next to this binary.
//!
//! The [`harness`] starts processes, measures time, CPU and memory, emulates links, prepares
//! data and runs the floors; each module of [`sections`] is one section of
//! `docs/benchmarks.md` (loopback, agencies, far away), owning its plan, table, text and chart;
//! `main` runs them in a loop and [`report`] writes the whole. A section's runs and its floor's
//! alternate (repetition-major), so drift spreads over both alike.
//!
//! Usage: `bench [--quick] [--only loopback|agencies|far] [--out DIR]`. `--quick` is a smoke
//! test that writes to `target/x86_64-unknown-linux-gnu/bench-quick/` unless `--out` says
//! otherwise; `--only NAME` runs one section and replaces it alone (and its headline rows) in the
//! existing report. Exit status: 1 if a run FAILED or the bench could not do its work (the reason
//! on stderr), 2 on a bad command line, 130 when interrupted.
#![warn(missing_docs)]

mod canvas;
mod fmt;
mod harness;
mod report;
mod section;
mod sections;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crate::harness::ctx::{fail, say, Ctx, RunError};
use crate::harness::machine::{load_average, Machine};
use crate::harness::procs::{raise_fd_limit, remove_dir};
use crate::section::{Env, Run};

/// Every section, in the report's order.
const SECTIONS: [(&str, Run); 3] = [
    ("loopback", sections::loopback::run),
    ("agencies", sections::agencies::run),
    ("far", sections::far::run),
];

/// The command line: `--quick`, `--only NAME`, `--out DIR`.
fn parse_args() -> Result<(bool, Option<String>, Option<PathBuf>), String> {
    let (mut quick, mut only, mut out) = (false, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => match args.next() {
                Some(name) if SECTIONS.iter().any(|s| s.0 == name) => only = Some(name),
                other => {
                    return Err(format!(
                        "--only takes loopback, agencies or far, not {other:?}"
                    ))
                }
            },
            "--out" => out = Some(PathBuf::from(args.next().ok_or("--out needs a directory")?)),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((quick, only, out))
}

fn main() -> ExitCode {
    let (quick, only, out) = match parse_args() {
        Ok(options) => options,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("bench: {msg}");
            }
            eprintln!("usage: bench [--quick] [--only loopback|agencies|far] [--out DIR]");
            return ExitCode::from(2);
        }
    };
    let result = run(quick, only.as_deref(), out);
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
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
fn run(quick: bool, only: Option<&str>, out: Option<PathBuf>) -> Result<bool, RunError> {
    let (started, load_start) = (Instant::now(), load_average());
    let exe = std::env::current_exe().map_err(fail("locate the bench binary"))?;
    let bins = exe.parent().map(PathBuf::from).unwrap_or_default();
    if let Some(missing) = ["server", "client", "gendata", "noop"]
        .map(|b| bins.join(b))
        .iter()
        .find(|p| !p.is_file())
    {
        let msg = format!(
            "{} not found: run `make bench`, which builds it first",
            missing.display()
        );
        return Err(RunError::Fail(msg));
    }
    let root = bins
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file())
        .map(PathBuf::from);
    let root = root
        .map_or_else(std::env::current_dir, Ok)
        .map_err(fail("current directory"))?;
    let target_dir = bins.parent().unwrap_or(&bins).to_path_buf();
    let scratch = target_dir.join("bench-data");
    let out_dir = out.unwrap_or_else(|| {
        if quick {
            target_dir.join("bench-quick")
        } else {
            root.join("docs")
        }
    });
    let course_dir = root.join("..").join("shared").join("dataset");
    let course = harness::data::course_files(&course_dir).map(|_| course_dir.as_path());

    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .map_err(fail(format!("install handler for signal {signal}")))?;
    }
    let ctx = Ctx { bins, interrupted };
    remove_dir(&scratch);
    let env = Env {
        ctx: &ctx,
        quick,
        course,
        scratch: &scratch,
        root: &root,
    };
    let course_note = match course {
        Some(_) => "Course dataset read from `../shared/dataset` (never copied into the repo; the \
                    ×20 files are built in scratch space)."
            .into(),
        None => format!(
            "The course dataset was not found at {}: the course scenarios use generated data of \
             the same size instead.",
            course_dir.display()
        ),
    };
    let notes = vec![course_note, raise_fd_limit()];
    let outcome = fs::create_dir_all(&scratch)
        .and_then(|()| fs::create_dir_all(&out_dir))
        .map_err(fail(format!("create {}", out_dir.display())))
        .and_then(|()| run_sections(&env, only, &out_dir, notes));
    remove_dir(&scratch);
    let (bodies, headline, notes, passed) = outcome?;
    let md_path = out_dir.join("benchmarks.md");
    let old = fs::read_to_string(&md_path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let machine = Machine::probe(&root, load_start);
    let (elapsed, notes) = (started.elapsed(), &notes);
    let written = report::Written {
        sections: &bodies,
        headline: &headline,
        notes,
        machine: &machine,
        passed,
        elapsed,
        quick,
    };
    let md = report::write(&old, only.is_none(), &written);
    fs::write(&md_path, md).map_err(fail(format!("write {}", md_path.display())))?;
    say(&format!(
        "\nwrote {} and its charts in {:.0} s\n",
        md_path.display(),
        elapsed.as_secs_f64()
    ));
    Ok(passed)
}

/// The sections' bodies, headline rows, notes and whether every run passed.
type Results = (
    Vec<(&'static str, String)>,
    Vec<section::Headline>,
    Vec<String>,
    bool,
);

/// Runs the sections (`only` one of them), writing their charts into `out_dir`; `notes` the
/// bench's own.
fn run_sections(
    env: &Env<'_>,
    only: Option<&str>,
    out_dir: &Path,
    notes: Vec<String>,
) -> Result<Results, RunError> {
    let mut results: Results = (Vec::new(), Vec::new(), notes, true);
    for section in SECTIONS
        .iter()
        .filter(|s| only.is_none_or(|only| only == s.0))
    {
        let outcome = (section.1)(env)?;
        let path = out_dir.join(outcome.chart.0);
        fs::write(&path, &outcome.chart.1).map_err(fail(format!("write {}", path.display())))?;
        say(&outcome.console);
        results.0.push((section.0, outcome.body));
        results.1.extend(outcome.headline);
        results.2.extend(outcome.notes);
        results.3 &= outcome.passed;
    }
    Ok(results)
}
