//! `bench`: end-to-end benchmark of the real `server` and `client` binaries of the `tp0` crate
//! on 127.0.0.1 (`server`, `client`, and `gendata` for data, taken from the bench's own
//! directory). `make bench` builds all of them static-pie (glibc `crt-static`), the form the
//! images ship, into `target/x86_64-unknown-linux-gnu/release/`.
//!
//! # What it measures
//! For each configuration — a data set, its number of agencies, `SYNC` durable (`true`,
//! `fdatasync` before each acknowledgement) or relaxed (`false`), and the clients' batch size —
//! it starts one `server` (fresh bets file, `SERVER_PORT=0`, `LOGGING_LEVEL=DEBUG`, in an empty
//! directory so no `config.ini` is read) and one `client` per agency (mode agency, in a directory
//! without `config.yaml`), and records:
//! - **end to end**: from just before the first client is spawned until the last client has been
//!   seen to exit (polled every 0.5 ms): upload, END, the draw and the winners query included;
//! - **bets/s**: bets in the data set / end-to-end time;
//! - **draw time**: the coordinator's own `action: draw_scan | ... | us: U` log line;
//! - **peak RSS**, measured from outside ([`memory`]): the `VmHWM` of the parent server, the
//!   largest session child, the coordinator and the largest client, read from /proc.
//!
//! # How a run is checked
//! A run PASSes only if every client exits 0, each client's `cant_ganadores` equals its agency's
//! winners (counted from the data: rows whose number is 7574, or `gendata`'s own count), the
//! coordinator's `sorteo` total equals their sum, the server exits 0 after SIGTERM, and the bets
//! file has exactly one row per bet. Anything else, or a run still going at its timeout (every
//! process of it is then killed), makes the configuration FAILED in the table.
//!
//! # Method
//! Each configuration runs 3 times (the 10-million-bet ones once) and the table shows the median
//! time, the throughput of that median and the median draw time; RSS is the maximum over the
//! runs. Every process is started in its own process group, and each group is killed on every
//! early exit path (timeouts, errors, SIGINT/SIGTERM to the bench). Scratch data lives under
//! `target/bench-data` and is removed at the end.
//!
//! # Agencies far away
//! A section of its own ([`far`]): each client reaches the server through its own user-space
//! link emulator ([`link`]: a TCP proxy on 127.0.0.1 that delays each direction by half the
//! round trip and caps it at 4 MB/s), the course dataset at round trips of 0 to 50 ms and on
//! plain loopback, tp0 as shipped beside tp0 configured stop-and-wait (`CLI_BATCH_WINDOW=1`,
//! `CLI_BATCH_MAXAMOUNT=100`) in the same run; checked like every other run.
//!
//! # Output
//! `docs/benchmarks.md` (table, targets with PASS/MISS, the machine, the command) and
//! `docs/benchmarks.png` (throughput against agencies and against batch size, durable vs
//! relaxed, drawn with plotters, [`chart`]); the agencies section's chart
//! `docs/benchmarks-agencies.png` ([`scale_chart`]) and the far section's
//! `docs/benchmarks-far.png` ([`far_chart`]); the tables are also printed on stdout.
//!
//! Usage: `bench [--quick] [--only agencies|far] [--out DIR]`. `--quick` is a smoke test (a
//! handful of small runs, well under a minute) that writes to `target/bench-quick/` unless
//! `--out` says otherwise, so it never overwrites the published results. `--only agencies` runs
//! only the agencies section ([`scale`]: 5 to 3,000 agencies with the shipped defaults), `--only
//! far` only the agencies far away section, and either replaces that section alone in an
//! existing report. The bench raises its own soft `RLIMIT_NOFILE` to the
//! hard limit (thousands of clients at once). The exit status is 1 if any run FAILED or the bench
//! could not do its work (the reason on stderr), 2 on a bad command line, 130 when interrupted.
#![warn(missing_docs)]

mod canvas;
mod chart;
mod counters;
mod data;
mod far;
mod far_chart;
mod far_report;
mod launch;
mod link;
mod logs;
mod machine;
mod memory;
mod procs;
mod report;
mod run;
mod scale;
mod scale_chart;
mod scenarios;
mod summary;
mod targets;

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crate::data::course_files;
use crate::machine::{load_average, load_note, Machine};
use crate::procs::{fail, raise_fd_limit, remove_dir, Ctx, RunError, ScratchGuard};
use crate::report::{report, table};
use crate::scenarios::{plan, ChartRole, COURSE_REPEAT};
use crate::summary::{run_plan, Status};
use crate::targets::targets;

/// A section run alone (`--only`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Only {
    /// The agencies section.
    Agencies,
    /// The agencies far away section.
    Far,
}

/// Command-line options.
struct Options {
    /// Smoke-test subset.
    quick: bool,
    /// One section alone.
    only: Option<Only>,
    /// Where the report goes, if not the default.
    out: Option<PathBuf>,
}

/// Parses the command line.
fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        quick: false,
        only: None,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--only" => match args.next().as_deref() {
                Some("agencies") => options.only = Some(Only::Agencies),
                Some("far") => options.only = Some(Only::Far),
                other => return Err(format!("--only takes `agencies` or `far`, not {other:?}")),
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

/// Writes to stdout, ignoring a closed pipe.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("bench: {msg}");
            }
            eprintln!("usage: bench [--quick] [--only agencies|far] [--out DIR]");
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
    for name in ["server", "client", "gendata"] {
        if !bins.join(name).is_file() {
            return Err(RunError::Fail(format!(
                "{} not found: run `make bench`, which builds them first",
                bins.join(name).display()
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
    let out_dir = options.out.clone().unwrap_or_else(|| {
        if options.quick {
            target_dir.join("bench-quick")
        } else {
            root.join("docs")
        }
    });
    let course_dir = root.join("..").join("shared").join("dataset");

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

    let course_present = course_files(&course_dir).is_some();
    let mut notes = Vec::new();
    if course_present {
        notes.push(format!(
            "Course dataset read from `{}` (never copied into the repo; the ×{COURSE_REPEAT} files \
             are built in scratch space).",
            "../shared/dataset"
        ));
    } else {
        notes.push(format!(
            "The course dataset was not found at {}: the course scenarios use generated data of \
             the same size (5 agencies, 78,700 and 1,573,940 bets) instead.",
            course_dir.display()
        ));
    }
    raise_fd_limit(&mut notes);
    fs::create_dir_all(&out_dir).map_err(fail(format!("create {}", out_dir.display())))?;
    let md_path = out_dir.join("benchmarks.md");
    let far_env = far::Env {
        ctx: &ctx,
        quick: options.quick,
        course_present,
        course_dir: &course_dir,
        scratch: &scratch,
        root: &root,
        out_dir: &out_dir,
    };
    if options.only == Some(Only::Far) {
        let (section, far_ok) = far::section(&far_env)?;
        let chart = out_dir.join(far::CHART);
        let merge = |old: &str| far_report::merge(old, &section);
        write_section(&md_path, merge, "far", &chart, started)?;
        return Ok(far_ok);
    }
    let mut groups = plan(options.quick, course_present);
    if options.only == Some(Only::Agencies) {
        groups.retain(|g| g.chart == Some(ChartRole::Scale));
    }
    let scale_runs = groups
        .iter()
        .find(|g| g.chart == Some(ChartRole::Scale))
        .map_or(1, |g| g.runs);
    let summaries = run_plan(&ctx, &groups, &course_dir, &scratch, &mut notes)?;
    let scaled: Vec<&summary::Summary> = summaries.iter().filter(|s| scale::is_scale(s)).collect();
    let section = scale::section(
        &scaled,
        (&load_start, &load_average()),
        &format!(
            "{} at commit {}",
            machine::utc_now(),
            Machine::probe(&root, String::new()).commit
        ),
        scale_runs,
    );
    let scale_png = scale_chart::chart(&scaled).map_err(RunError::Fail)?;
    let scale_png_path = out_dir.join(scale::CHART);
    fs::write(&scale_png_path, scale_png)
        .map_err(fail(format!("write {}", scale_png_path.display())))?;
    let mut text = scale::table(&scaled);
    for t in scale::targets(&scaled) {
        let _ = writeln!(text, "{:<7} {}", t.verdict, t.text);
    }
    say(&text);
    let scale_failed = scaled.iter().any(|s| matches!(s.status, Status::Failed(_)));
    if options.only == Some(Only::Agencies) {
        let merge = |old: &str| scale::merge(old, &section);
        write_section(&md_path, merge, "agencies", &scale_png_path, started)?;
        return Ok(!scale_failed);
    }
    let summaries: Vec<summary::Summary> = summaries
        .into_iter()
        .filter(|s| !scale::is_scale(s))
        .collect();
    let (far, far_ok) = far::section(&far_env)?;

    let runs = || summaries.iter().flat_map(|s| s.runs.iter());
    let sweeps = runs().map(|r| r.sweeps).min();
    let busy: f64 = runs().map(|r| r.sampler_busy.as_secs_f64()).sum();
    let measured: f64 = runs().filter_map(|r| r.e2e).map(|d| d.as_secs_f64()).sum();
    notes.push(format!(
        "RSS is measured from outside: while a run lasts, a thread of the bench reads `VmHWM` (the \
         kernel's peak resident set) from `/proc/<pid>/status` of the server, every process it \
         forks and every client, every {} ms (less often while one sweep takes over a tenth of \
         the pause; fewest sweeps in one run: {}). `VmHWM` \
         starts afresh at exec and, at fork, at the child's resident set then, so no process \
         carries its launcher's peak; it is a high-water mark, so only growth in a process's last \
         interval before it exits could be missed. The coordinator is the server child whose pid \
         the server logs at `start_coordinator`; every other server child is a session. The \
         sampler thread used {:.1} ms of CPU per second of run ({:.1}% of one core), CPU the \
         runs could otherwise have used.",
        memory::MIN_INTERVAL.as_millis(),
        sweeps.map_or("none".into(), |n| n.to_string()),
        1000.0 * busy / measured.max(1e-9),
        100.0 * busy / measured.max(1e-9),
    ));
    notes.push(
        "Draw (ms) is the coordinator's own `draw_scan` time (logged in µs): the coordinator reads \
         the bets file as it grows, so at the barrier it scans only the tail."
            .into(),
    );
    let machine = Machine::probe(&root, load_start);
    if let Some(note) = load_note(&machine) {
        notes.push(note);
    }
    let targets = targets(&summaries);
    let md = scale::merge(
        &report(
            &summaries,
            &targets,
            &machine,
            options.quick,
            started.elapsed(),
            &notes,
        ),
        &section,
    );
    let md = far_report::merge(&md, &far);
    let png = chart::chart(&groups, &summaries, options.quick).map_err(RunError::Fail)?;
    let png_path = out_dir.join("benchmarks.png");
    fs::write(&md_path, md).map_err(fail(format!("write {}", md_path.display())))?;
    fs::write(&png_path, png).map_err(fail(format!("write {}", png_path.display())))?;

    let mut text = table(&summaries);
    text.push('\n');
    for t in &targets {
        let _ = writeln!(text, "{:<7} {}", t.verdict, t.text);
    }
    let _ = writeln!(
        text,
        "\nwrote {} and {} in {:.0} s",
        md_path.display(),
        png_path.display(),
        started.elapsed().as_secs_f64()
    );
    say(&text);
    Ok(!scale_failed
        && far_ok
        && !summaries
            .iter()
            .any(|s| matches!(s.status, Status::Failed(_))))
}

/// Replaces one section of the report at `md_path` (of a new report if there is none yet) with
/// what `merge` makes of the old text, and says so.
fn write_section(
    md_path: &Path,
    merge: impl FnOnce(&str) -> String,
    name: &str,
    chart: &Path,
    started: Instant,
) -> Result<(), RunError> {
    let old = fs::read_to_string(md_path).unwrap_or_else(|_| "# Benchmarks\n".into());
    fs::write(md_path, merge(&old)).map_err(fail(format!("write {}", md_path.display())))?;
    say(&format!(
        "wrote the {name} section of {} and {} in {:.0} s\n",
        md_path.display(),
        chart.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
