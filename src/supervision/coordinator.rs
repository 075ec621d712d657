//! The coordinator process's body: it opens the bets file's ledger, checks it fits this
//! configuration, and serves the sessions' requests until SIGTERM (see the `coordinator` crate for
//! the barrier and the draw themselves).

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use coordinator::{Coordinator, Liveness, Request, SessionId, Timing};
use ipc_channel::ipc::IpcReceiver;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::config::ServerConfig;
use crate::storage::{BetsLedger, CommitState};

/// The coordinator's exit code for state it must never serve (the server stops instead of
/// restarting it).
pub(super) const FATAL_EXIT: i32 = 3;

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

/// The coordinator process's body; returns its exit code.
pub(super) fn run_coordinator(
    config: &ServerConfig,
    commit: &CommitState,
    requests: &IpcReceiver<Request>,
    stop: &AtomicBool,
) -> i32 {
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
    match coordinator::run(&mut coordinator, requests, stop, Duration::from_millis(200)) {
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
