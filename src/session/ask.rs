//! Calls to the coordinator: a request with its own reply channel, and a wait that watches
//! SIGTERM, a deadline, or the peer.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::coordinator::Request;
use ipc_channel::ipc::{self, IpcSender, OpaqueIpcReceiver, OpaqueIpcSender, TryRecvError};
use serde::{de::DeserializeOwned, Serialize};

use super::{Session, Stop, SOCKET_TICK};
use crate::protocol::ErrorCode;

/// The longest a wait for the other agencies (no deadline) sleeps between looks at the peer.
/// Thousands of sessions wait at once, for as long as the slowest agency uploads; waking each of
/// them five times a second cost more CPU than their uploads. SIGTERM interrupts the wait at once.
const LONG_WAIT_TICK: Duration = Duration::from_secs(1);

/// The session's reply channel, made on its first request and reused by the next ones: a
/// channel per request cost a socket pair and two closes each. Answers come in order (one
/// request at a time), and a request that fails ends the session, so no late answer to one
/// request can be read as the answer to the next: a failed wait drops the channel. The session
/// keeps a sender end, so the channel no longer closes when the coordinator dies; a dead
/// coordinator is noticed as before by the parent, which ends every session.
pub(super) type Replies = std::cell::Cell<Option<(OpaqueIpcSender, OpaqueIpcReceiver)>>;

impl Session<'_, '_> {
    /// Sends a request with a fresh reply channel and waits for the answer, watching SIGTERM.
    ///
    /// With a `timeout` the coordinator must answer within it. Without one the wait is for the
    /// other agencies (the opening, the draw), which may take hours: it has no limit, but it ends
    /// as soon as the peer closes or resets, so the claim is given up and a reconnecting agency is
    /// not locked out by a session nobody listens to.
    pub(super) fn ask<T: Serialize + DeserializeOwned>(
        &self,
        request: impl FnOnce(IpcSender<T>) -> Request,
        timeout: Option<Duration>,
    ) -> Result<T, Stop> {
        let unavailable =
            |why: String| Stop::Fail(ErrorCode::Unavailable, format!("coordinator: {why}"));
        let (reply, answer) = match self.replies.take() {
            Some((reply, answer)) => (reply.to::<T>(), answer.to::<T>()),
            None => ipc::channel::<T>().map_err(|err| unavailable(err.to_string()))?,
        };
        self.ctx
            .coordinator
            .send(request(reply.clone()))
            .map_err(|err| unavailable(format!("{err:?}")))?;
        let value = self.wait(&answer, timeout)?;
        self.replies
            .set(Some((reply.to_opaque(), answer.to_opaque())));
        Ok(value)
    }

    /// Waits for the answer on `answer`, watching SIGTERM, the deadline or the peer.
    fn wait<T: Serialize + DeserializeOwned>(
        &self,
        answer: &ipc::IpcReceiver<T>,
        timeout: Option<Duration>,
    ) -> Result<T, Stop> {
        let unavailable =
            |why: String| Stop::Fail(ErrorCode::Unavailable, format!("coordinator: {why}"));
        let started = Instant::now();
        let mut tick = SOCKET_TICK;
        loop {
            if self.ctx.stop.load(Ordering::Relaxed) {
                return Err(Stop::Shutdown);
            }
            match answer.try_recv_timeout(tick) {
                Ok(value) => return Ok(value),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::IpcError(ipc::IpcError::Io(err)))
                    if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(TryRecvError::IpcError(err)) => return Err(unavailable(format!("{err:?}"))),
            }
            match timeout {
                Some(limit) if started.elapsed() >= limit => {
                    return Err(unavailable("no answer in time".into()));
                }
                None if self.conn.peer_closed() => {
                    return Err(Stop::Gone(
                        "the peer left while waiting for the round".into(),
                    ));
                }
                None => tick = (tick * 2).min(LONG_WAIT_TICK),
                _ => {}
            }
        }
    }
}
