//! The coordinator's loop over its request channel: what has already arrived is served as one
//! batch, and the round's timers are kept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ipc_channel::ipc::{IpcReceiver, TryRecvError};

use crate::{Coordinator, Ledger, Liveness, Request};

/// Most requests served as one batch: a bound on how long the first of them waits for its answer.
const MAX_BATCH: usize = 256;

/// Serves requests from `requests` until `stop` is set; checks `stop` at least every `tick`, and
/// wakes for the round's opening and the winners' release on time.
///
/// # Errors
/// Returns the channel error if the request channel breaks (every sender is gone or a message
/// cannot be decoded), which ends the coordinator.
pub fn run<L: Ledger, A: Liveness>(
    coordinator: &mut Coordinator<L, A>,
    requests: &IpcReceiver<Request>,
    stop: &AtomicBool,
    tick: Duration,
) -> Result<(), String> {
    while !stop.load(Ordering::Relaxed) {
        let wait = coordinator
            .next_deadline()
            .map_or(tick, |at| {
                at.saturating_duration_since(Instant::now()).min(tick)
            })
            .max(Duration::from_millis(1));
        let mut received = requests.try_recv_timeout(wait);
        let mut batch = Vec::new();
        // What else has already arrived is served with it, so its ENDs share one sync.
        while let Ok(request) = received {
            batch.push(request);
            received = match batch.len() < MAX_BATCH {
                true => requests.try_recv(),
                false => Err(TryRecvError::Empty),
            };
        }
        coordinator.serve_all(batch);
        match received {
            Ok(_) | Err(TryRecvError::Empty) => {}
            // A signal (SIGTERM among them) interrupts the wait; the loop condition decides.
            Err(TryRecvError::IpcError(ipc_channel::ipc::IpcError::Io(err)))
                if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(TryRecvError::IpcError(err)) => return Err(format!("{err:?}")),
        }
        coordinator.tick(Instant::now());
    }
    Ok(())
}
