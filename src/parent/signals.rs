//! Signals for a single-threaded process: handlers only set flags and write to a self-pipe.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use signal_hook::SigId;

/// The parent's signal state: a flag per stop signal and a pipe that wakes `poll`.
pub(crate) struct Signals {
    term: Arc<AtomicBool>,
    int: Arc<AtomicBool>,
    /// Set by SIGCHLD: some child may be waiting to be reaped.
    chld: Arc<AtomicBool>,
    wake: UnixStream,
    ids: Vec<SigId>,
}

impl Signals {
    /// Registers SIGTERM and SIGINT (stop) and SIGCHLD (reap), each also waking the pipe.
    ///
    /// # Errors
    /// Registration or pipe creation failed.
    pub(crate) fn install() -> std::io::Result<Signals> {
        let (wake, notify) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        notify.set_nonblocking(true)?;
        let term = Arc::new(AtomicBool::new(false));
        let int = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for (signal, flag) in [(SIGTERM, &term), (SIGINT, &int)] {
            ids.push(signal_hook::flag::register(signal, Arc::clone(flag))?);
            ids.push(signal_hook::low_level::pipe::register(
                signal,
                notify.try_clone()?,
            )?);
        }
        // The loop reaps only after SIGCHLD: every `waitpid` walks the whole list of children in
        // the kernel, and with thousands waiting one on each accept grew with their square.
        let chld = Arc::new(AtomicBool::new(false));
        ids.push(signal_hook::flag::register(SIGCHLD, Arc::clone(&chld))?);
        ids.push(signal_hook::low_level::pipe::register(SIGCHLD, notify)?);
        Ok(Signals {
            term,
            int,
            chld,
            wake,
            ids,
        })
    }

    /// The stop signal that arrived, if any (SIGTERM when both did).
    pub(crate) fn stop_requested(&self) -> Option<&'static str> {
        if self.term.load(Ordering::Relaxed) {
            Some("SIGTERM")
        } else if self.int.load(Ordering::Relaxed) {
            Some("SIGINT")
        } else {
            None
        }
    }

    /// Whether SIGCHLD arrived since the last call (which clears it). Cleared before reaping,
    /// so a child that exits during the reap sets it again.
    pub(crate) fn take_child_exited(&self) -> bool {
        self.chld.swap(false, Ordering::Relaxed)
    }

    /// The descriptor `poll` watches.
    pub(crate) fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Empties the wake pipe.
    pub(crate) fn drain(&self) {
        let mut sink = [0u8; 64];
        while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
    }

    /// In a forked child: removes the parent's handlers (they would write into the parent's
    /// pipe) and returns a fresh stop flag for SIGTERM/SIGINT.
    ///
    /// # Errors
    /// Registration of the child's own handlers failed.
    pub(crate) fn forget_in_child(self) -> std::io::Result<Arc<AtomicBool>> {
        for id in &self.ids {
            signal_hook::low_level::unregister(*id);
        }
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [SIGTERM, SIGINT] {
            signal_hook::flag::register(signal, Arc::clone(&stop))?;
        }
        Ok(stop)
    }
}
