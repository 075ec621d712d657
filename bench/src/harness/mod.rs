//! The harness: starting and reaping processes, measuring time, CPU and memory, the link
//! emulator, the load generator, preparing data, the floors, and running a plan's configurations
//! in turn, reading the product's log lines; and what every step shares (its error type, the
//! binaries, the stop flag, reading the children's files line by line and the fields of the
//! product's log lines). Sections build on it; it knows nothing of them.

pub mod data;
pub mod floor;
pub mod link;
pub mod load;
pub mod machine;
pub mod measure;
pub mod memory;
pub mod procs;
pub mod run;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why a step stopped early.
#[derive(Debug)]
pub enum RunError {
    /// Interrupted (SIGINT, SIGTERM, SIGHUP): clean up and stop everything.
    Abort,
    /// This run or data set failed, with the reason; the bench goes on.
    Fail(String),
}

/// A step's result: [`RunError`] unless said otherwise.
pub type Result<T, E = RunError> = std::result::Result<T, E>;

impl From<String> for RunError {
    fn from(reason: String) -> RunError {
        RunError::Fail(reason)
    }
}

/// Maps an error to a [`RunError::Fail`] saying what was being done.
pub fn fail<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> RunError {
    move |err| RunError::Fail(format!("{what}: {err}"))
}

/// Where the binaries are and whether to stop.
pub struct Ctx {
    /// Directory holding `server`, `client`, `gendata` and `noop`.
    pub bins: PathBuf,
    /// Set by the signal handlers.
    pub interrupted: Arc<AtomicBool>,
}

impl Ctx {
    /// `Err(Abort)` once a stop signal arrived.
    pub fn check(&self) -> Result<()> {
        if self.interrupted.load(Ordering::Relaxed) {
            return Err(RunError::Abort);
        }
        Ok(())
    }

    /// Path of one of the project's binaries.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bins.join(name)
    }
}

/// Calls `each` with every line of a file, without its line ending (streamed; bytes that are
/// not UTF-8 are replaced).
pub fn for_each_line(path: &Path, mut each: impl FnMut(&str)) -> Result<()> {
    let err = || fail(format!("read {}", path.display()));
    let mut reader = BufReader::with_capacity(64 * 1024, File::open(path).map_err(err())?);
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(err())? == 0 {
            return Ok(());
        }
        each(String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']));
    }
}

// The product's log lines as the bench reads them: `action: X | result: Y | key: value`, the
// course's format, split into fields.

/// The `key: value` fields of a log line, after `action: `.
pub fn fields(line: &str) -> Vec<(&str, &str)> {
    let line = line.find("action: ").map_or("", |at| &line[at..]);
    let parts = line.split(" | ").filter_map(|part| part.split_once(": "));
    parts.map(|(k, v)| (k.trim(), v.trim())).collect()
}

/// A field's value, parsed.
pub fn get<T: std::str::FromStr>(fields: &[(&str, &str)], key: &str) -> Option<T> {
    fields.iter().find(|(k, _)| *k == key)?.1.parse().ok()
}

/// Whether a log line's fields say `action: <action> | result: success`.
pub fn succeeded(fields: &[(&str, &str)], action: &str) -> bool {
    let is = |key, value| fields.contains(&(key, value));
    is("action", action) && is("result", "success")
}

/// Why `got`, `field` of the last `line` success line of a log, is not `want` (if it is not).
pub fn mismatch(got: Option<u64>, want: u64, field: &str, line: &str) -> Option<String> {
    match got {
        Some(n) if n == want => None,
        Some(n) => Some(format!("{field} {n}, expected {want}")),
        None => Some(format!("no {line} success line")),
    }
}
