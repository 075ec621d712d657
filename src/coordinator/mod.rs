//! The coordinator process: one child of the parent, forked at startup (and again if it dies),
//! that owns the round: who holds each agency, when the round opens, the END barrier, the draw,
//! and who is told which winners.
//!
//! What it does: it opens the bets file through its `ledger` (which repairs a torn tail and
//! reads what is stored), checks that the file fits this configuration, and serves the sessions'
//! requests over one ipc-channel until SIGTERM. Every session asks it in the same way: a
//! [`Request`] carrying an `IpcSender` for the reply, so the coordinator never blocks on a child.
//!
//! What it may touch: the bets file and its END journal, read and journaled only through
//! `storage` (it never appends bets); the sessions, only by replying on their channels and by
//! checking that their pids exist. It forks nothing and opens no socket.
//!
//! The barrier's rules themselves, free of files and processes so they are tested with an
//! in-memory ledger, are the `coordinator` crate at the repository's top level; this module is
//! the one place the server reaches them, so everything of the coordinator a session uses is
//! re-exported here.

mod ledger;

pub(crate) use ::coordinator::{
    AgencyId, AuthReply, ClaimReply, EndReply, OpeningReply, Request, SessionId, WinnersReply,
};

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ::coordinator::{Coordinator, Liveness, Timing};
use ipc_channel::ipc::IpcReceiver;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::config::ServerConfig;
use crate::storage::CommitState;
use ledger::BetsLedger;

/// The coordinator's exit code for state it must never serve (the server stops instead of
/// restarting it).
pub(crate) const FATAL_EXIT: i32 = 3;

/// How long the coordinator waits for a request before it looks at its timers and the stop flag.
const REQUEST_WAIT: Duration = Duration::from_millis(200);

/// A session is alive while its process exists.
struct ProcessLiveness;

impl Liveness for ProcessLiveness {
    fn is_alive(&self, session: SessionId) -> bool {
        let Ok(pid) = i32::try_from(session) else {
            return false;
        };
        // Signal 0 checks existence only. A zombie still "exists", but the parent reaps promptly.
        kill(Pid::from_raw(pid), None).is_ok()
    }
}

/// The coordinator process's body, run in the child the parent forked; returns its exit code.
pub(crate) fn run(
    config: &ServerConfig,
    commit: &CommitState,
    requests: &IpcReceiver<Request>,
    stop: &AtomicBool,
) -> i32 {
    keep_large_blocks_off_the_heap();
    let ledger = match BetsLedger::open(&config.bets_file, commit) {
        Ok(ledger) => ledger,
        Err(err) => {
            log::error!("action: start_coordinator | result: fail | error: {err}");
            return 1;
        }
    };
    let strangers: Vec<String> = ledger
        .agencies_on_record()
        .into_iter()
        .filter(|agency| !(1..=config.agencies).contains(agency))
        .map(|agency| agency.to_string())
        .collect();
    if !strangers.is_empty() {
        // A journal of a larger round would let the draw run before every agency here ended.
        log::error!(
            "action: start_coordinator | result: fail | error: {} names agencies {} outside 1..={} (AGENCIES); restore AGENCIES or start a new round with an empty bets file",
            crate::logging::field(&config.bets_file.display().to_string()),
            strangers.join(","),
            config.agencies
        );
        return FATAL_EXIT;
    }
    let timing = Timing {
        opening_delay: config.opening_delay,
        winners_delay: config.winners_delay,
    };
    let mut coordinator = Coordinator::new(ledger, ProcessLiveness, config.agencies, timing);
    log::info!(
        "action: start_coordinator | result: success | agencies: {} | drawn: {}",
        config.agencies,
        coordinator.has_drawn()
    );
    match ::coordinator::run(&mut coordinator, requests, stop, REQUEST_WAIT) {
        Ok(()) => {
            log::info!("action: shutdown | result: in_progress | resource: coordinator | closed: channel bets_file ends_file");
            0
        }
        Err(err) => {
            log::error!("action: coordinator | result: fail | error: {err}");
            1
        }
    }
}

/// glibc's malloc raises its mmap threshold past the size of the first large block freed, so
/// later large blocks come from the heap, where the small allocations made between requests split
/// them once freed and the heap grows with every agency served. ipc-channel's receive buffer
/// (about 200 KiB per request) was the worst of them and is now kept for the next receive instead
/// (`parent::ReceiveBuffers`, no `mmap` or `munmap` per request); a fixed threshold still keeps
/// the coordinator's other large blocks, its tables growing with the agencies, in their own
/// mappings, returned when freed. Measured with the kept buffer, `bench --only load` twice each:
/// coordinator peak 2.0/1.9 MiB at 1,000 agencies and 6.7/6.8 at 10,000 with this, 2.1/2.5 and
/// 6.9/6.9 without; server CPU per agency the same within noise.
fn keep_large_blocks_off_the_heap() {
    #[cfg(target_env = "gnu")]
    {
        const THRESHOLD: nix::libc::c_int = 64 * 1024;
        // SAFETY: mallopt only sets a parameter of this process's allocator; it is called before
        // the coordinator allocates anything of its own, in a process with one thread.
        let set = unsafe { nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, THRESHOLD) };
        if set != 1 {
            log::warn!(
                "action: mallopt | result: fail | param: M_MMAP_THRESHOLD | value: {THRESHOLD}"
            );
        }
    }
}
