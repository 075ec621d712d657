//! What every step of the bench shares: its error type, the binaries and the stop flag.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why a step stopped early.
#[derive(Debug)]
pub enum RunError {
    /// The bench was interrupted (SIGINT, SIGTERM, SIGHUP): clean up and stop everything.
    Abort,
    /// This run or data set failed, with the reason; the bench goes on.
    Fail(String),
}

/// Turns an I/O-style error into a [`RunError::Fail`] with context.
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
    pub fn check(&self) -> Result<(), RunError> {
        if self.interrupted.load(Ordering::Relaxed) {
            Err(RunError::Abort)
        } else {
            Ok(())
        }
    }

    /// Path of one of the project's binaries.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bins.join(name)
    }
}

/// Writes to stdout, ignoring a closed pipe.
pub fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
