//! `bench`: end-to-end benchmark of the real `server` and `client` binaries of the `tp0` crate on
//! 127.0.0.1, each figure beside the machine's floor for the same work, measured in the same run.
//! `make bench` builds them (and `gendata`, and the floor's `noop`) static-pie, as the images
//! ship them, into `target/x86_64-unknown-linux-gnu/release/`, next to this binary.
//!
//! The [`harness`] starts processes, measures time, CPU and memory, emulates links, prepares
//! data and runs the floors; each module of [`sections`] is one [`section::Section`] of
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
use crate::harness::data::course_files;
use crate::harness::machine::{load_average, Machine};
use crate::harness::procs::{raise_fd_limit, remove_dir, ScratchGuard};
use crate::section::{Env, Section};

/// Command-line options.
struct Options {
    /// Smoke-test subset.
    quick: bool,
    /// One section alone.
    only: Option<String>,
    /// Where the report goes, if not the default.
    out: Option<PathBuf>,
}

/// Every section, in the report's order.
fn every_section() -> Vec<Box<dyn Section>> {
    vec![
        Box::new(sections::loopback::Loopback),
        Box::new(sections::agencies::Agencies),
        Box::new(sections::load::Load),
        Box::new(sections::far::Far),
    ]
}

/// Parses the command line.
fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        only: None,
        out: None,
    };
    let names: Vec<&str> = every_section().iter().map(|s| s.name()).collect();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => match args.next() {
                Some(name) if names.contains(&name.as_str()) => options.only = Some(name),
                other => return Err(format!("--only takes one of {names:?}, not {other:?}")),
            },
            "--out" => {
                options.out = Some(PathBuf::from(args.next().ok_or("--out needs a directory")?))
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("bench: {msg}");
            }
            eprintln!("usage: bench [--quick] [--only loopback|agencies|far] [--out DIR]");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
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
fn run(options: &Options) -> Result<bool, RunError> {
    let started = Instant::now();
    let load_start = load_average();
    let exe = std::env::current_exe().map_err(fail("locate the bench binary"))?;
    let bins = exe
        .parent()
        .ok_or_else(|| RunError::Fail("the bench binary has no directory".into()))?
        .to_path_buf();
    for name in ["server", "client", "gendata", "noop"] {
        if !bins.join(name).is_file() {
            let missing = bins.join(name);
            return Err(RunError::Fail(format!(
                "{} not found: run `make bench`, which builds it first",
                missing.display()
            )));
        }
    }
    let root = bins
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .map_or_else(std::env::current_dir, Ok)
        .map_err(fail("current directory"))?;
    let target_dir = bins.parent().unwrap_or(&bins).to_path_buf();
    let scratch = target_dir.join("bench-data");
    let default_out = if options.quick {
        target_dir.join("bench-quick")
    } else {
        root.join("docs")
    };
    let out_dir = options.out.clone().unwrap_or(default_out);
    let course_dir = root.join("..").join("shared").join("dataset");
    let course_present = course_files(&course_dir).is_some();

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
    fs::create_dir_all(&scratch).map_err(fail(format!("create {}", scratch.display())))?;
    let _scratch_guard = ScratchGuard(scratch.clone());
    fs::create_dir_all(&out_dir).map_err(fail(format!("create {}", out_dir.display())))?;

    let mut notes = vec![if course_present {
        "Course dataset read from `../shared/dataset` (never copied into the repo; the ×20 files \
         are built in scratch space)."
            .to_string()
    } else {
        format!(
            "The course dataset was not found at {}: the course scenarios use generated data of \
             the same size instead.",
            course_dir.display()
        )
    }];
    notes.push(raise_fd_limit());
    let env = Env {
        ctx: &ctx,
        quick: options.quick,
        course: course_present.then_some(course_dir.as_path()),
        scratch: &scratch,
        root: &root,
    };
    let (mut bodies, mut headline, mut passed) = (Vec::new(), Vec::new(), true);
    for section in every_section() {
        if options
            .only
            .as_deref()
            .is_some_and(|only| only != section.name())
        {
            continue;
        }
        let outcome = section.run(&env)?;
        for (name, png) in &outcome.charts {
            let path = out_dir.join(name);
            fs::write(&path, png).map_err(fail(format!("write {}", path.display())))?;
        }
        say(&outcome.console);
        bodies.push((section.name(), outcome.body));
        headline.extend(outcome.headline);
        notes.extend(outcome.notes);
        passed &= outcome.passed;
    }
    let md_path = out_dir.join("benchmarks.md");
    let old = fs::read_to_string(&md_path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let machine = Machine::probe(&root, load_start);
    let written = report::Written {
        sections: &bodies,
        headline: &headline,
        notes: &notes,
        machine: &machine,
        passed,
        elapsed: started.elapsed(),
        quick: options.quick,
    };
    let md = report::write(&old, options.only.is_none(), &written);
    fs::write(&md_path, md).map_err(fail(format!("write {}", md_path.display())))?;
    say(&format!(
        "\nwrote {} and its charts in {:.0} s\n",
        md_path.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(passed)
}
