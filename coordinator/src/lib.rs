//! The coordinator: the round's opening, the END barrier and the draw.
//!
//! One coordinator process serves every session child over a single ipc-channel. It owns the
//! decisions no child may take alone:
//! - who holds an agency (one uploading connection per agency; a second claim is refused),
//! - when the round opens (see [`round`]: at once, or a stated delay after every agency checked in),
//! - when the barrier opens (END notices from all `agencies` distinct agencies, made durable by the
//!   [`Ledger`] before they are acknowledged), and
//! - what each agency is told (only its own winners, and only after the draw and its announcement:
//!   a query before that is parked, never answered with partial information).
//!
//! The crate knows nothing about files or sockets: the bets file, its format and the END journal
//! live behind the [`Ledger`] trait, which the server implements over its storage module. That
//! keeps the barrier's rules testable with an in-memory ledger.

#![warn(missing_docs)]

pub mod auth;
mod ends;
mod messages;
mod ports;
pub mod round;
mod run;

pub use messages::{
    AgencyId, AuthReply, ClaimReply, Documents, EndReply, OpeningReply, Receipt, Request,
    SessionId, WinnersReply,
};
pub use ports::{AgencyDraw, Draw, Ledger, Liveness};
pub use round::{Opening, Timing};
pub use run::run;

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use ends::Unsynced;
use ipc_channel::ipc::IpcSender;

/// When agencies may learn the draw's result (which the ledger keeps: [`Ledger::drawn_for`]).
struct Drawn {
    released_at: Instant,
}

/// The barrier's state: claims, the opening, ENDs, parked queries and, after the draw, its result.
pub struct Coordinator<L: Ledger, A: Liveness> {
    ledger: L,
    liveness: A,
    agencies: u32,
    timing: Timing,
    opening: Opening,
    claims: HashMap<AgencyId, SessionId>,
    ended: BTreeSet<AgencyId>,
    /// How many of `ended` are agencies of this round (`1..=agencies`), kept as ENDs come: the
    /// draw's check runs on every END, and counting the set there made a round cost N² steps.
    ended_here: u32,
    waiting_to_open: Vec<IpcSender<OpeningReply>>,
    parked: Vec<(AgencyId, IpcSender<WinnersReply>)>,
    drawn: Option<Drawn>,
    /// A draw read but not yet on record (its `record_draw` failed): the next attempt records it.
    unrecorded: Option<Draw>,
    failures: auth::FailureLimiter,
}

impl<L: Ledger, A: Liveness> Coordinator<L, A> {
    /// A coordinator for `agencies` agencies over an opened ledger. A round already on record is
    /// open at once, and drawn at once if every END is already durable (a restart after the
    /// barrier opened).
    pub fn new(ledger: L, liveness: A, agencies: u32, timing: Timing) -> Self {
        let ended = ledger.ended();
        let ended_here = ended.range(1..=agencies).count() as u32;
        let under_way = ledger.stored_at_open() > 0 || !ended.is_empty();
        let opening = Opening::at_start(&timing, under_way);
        if !opening.is_open() {
            log::info!(
                "action: apertura | result: in_progress | agencies: {agencies} | detail: opens {} ms after every agency has checked in",
                timing.opening_delay.as_millis()
            );
        }
        let mut coordinator = Coordinator {
            ledger,
            liveness,
            agencies,
            timing,
            opening,
            claims: HashMap::new(),
            ended,
            ended_here,
            waiting_to_open: Vec::new(),
            parked: Vec::new(),
            drawn: None,
            unrecorded: None,
            failures: auth::FailureLimiter::default(),
        };
        // A failure is logged; the next END or winners query tries again.
        let _ = coordinator.draw_if_complete(Instant::now());
        coordinator
    }

    /// Whether the draw has happened (or was recovered) in this run.
    pub fn has_drawn(&self) -> bool {
        self.drawn.is_some()
    }

    /// Whether the round is open.
    pub fn is_open(&self) -> bool {
        self.opening.is_open()
    }

    /// Serves one request; replies that cannot be delivered (the child died) are dropped.
    pub fn serve(&mut self, request: Request) {
        self.serve_all([request]);
    }

    /// Serves requests that arrived together, in order. Their new ENDs are made durable by one
    /// sync before any of them is acknowledged (a group commit: at 10,000 agencies one sync per
    /// END was seconds of the coordinator's time, while every session waited its turn), and then
    /// the draw is tried once.
    pub fn serve_all(&mut self, requests: impl IntoIterator<Item = Request>) {
        let now = Instant::now();
        let mut unsynced = Unsynced::default();
        for request in requests {
            match request {
                Request::End {
                    agency,
                    session,
                    total,
                    reply,
                } => self.end(agency, session, total, reply, &mut unsynced),
                request => self.serve_other(request, now),
            }
        }
        if !unsynced.is_empty() {
            self.acknowledge_ends(unsynced);
            // A failure is logged and told to parked sessions; the next query tries again.
            let _ = self.draw_if_complete(now);
        }
    }

    /// Serves one request that `serve_all` does not batch (an END goes back to it).
    fn serve_other(&mut self, request: Request, now: Instant) {
        match request {
            Request::Claim {
                agency,
                session,
                reply,
            } => {
                let answer = self.claim(agency, session, now);
                let _ = reply.send(answer);
            }
            Request::Opening { reply } => {
                if self.opening.is_open() {
                    let _ = reply.send(OpeningReply::Open);
                } else {
                    self.waiting_to_open.push(reply);
                }
            }
            end @ Request::End { .. } => self.serve_all([end]),
            Request::Winners { agency, reply } => self.winners(agency, reply, now),
            Request::Authenticate {
                peer,
                accepted,
                reply,
            } => {
                let answer = match self.failures.check(&peer, now) {
                    Err(wait) => AuthReply::Limited {
                        retry_in_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    },
                    Ok(()) => {
                        if !accepted {
                            self.failures.failed(&peer, now);
                        }
                        AuthReply::Proceed
                    }
                };
                let _ = reply.send(answer);
            }
            Request::Release { agency, session } => {
                if self.claims.get(&agency) == Some(&session) {
                    self.claims.remove(&agency);
                }
            }
        }
    }

    /// The next instant at which [`Coordinator::tick`] has something to do, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        let release = self
            .drawn
            .as_ref()
            .filter(|_| !self.parked.is_empty())
            .map(|drawn| drawn.released_at);
        match (self.opening.deadline(), release) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Does what is due at `now`: opens the round, releases the winners.
    pub fn tick(&mut self, now: Instant) {
        if self.opening.open_if_due(now) {
            log::info!(
                "action: apertura | result: success | agencies: {} | waiting: {}",
                self.agencies,
                self.waiting_to_open.len()
            );
            for reply in self.waiting_to_open.drain(..) {
                let _ = reply.send(OpeningReply::Open);
            }
        }
        self.release_if_due(now);
    }

    fn claim(&mut self, agency: AgencyId, session: SessionId, now: Instant) -> ClaimReply {
        if let Some(&holder) = self.claims.get(&agency) {
            if holder != session && self.liveness.is_alive(holder) {
                log::info!(
                    "action: claim_agency | result: fail | agency: {agency} | reason: held by session {holder}"
                );
                return ClaimReply::Busy;
            }
        }
        match self.ledger.position(agency) {
            Ok(position) => {
                self.claims.insert(agency, session);
                let ended = self.ended.contains(&agency);
                log::debug!(
                    "action: claim_agency | result: success | agency: {agency} | position: {position} | ended: {ended}"
                );
                let delay = self.timing.opening_delay;
                if let Some(at) = self.opening.check_in(agency, self.agencies, delay, now) {
                    log::info!(
                        "action: apertura | result: in_progress | agencies: {} | opens_in_ms: {}",
                        self.agencies,
                        at.saturating_duration_since(now).as_millis()
                    );
                }
                ClaimReply::Granted {
                    position,
                    ended,
                    open: self.opening.is_open(),
                }
            }
            Err(err) => {
                log::error!(
                    "action: claim_agency | result: fail | agency: {agency} | error: {err}"
                );
                ClaimReply::Failed(err.to_string())
            }
        }
    }

    fn winners(&mut self, agency: AgencyId, reply: IpcSender<WinnersReply>, now: Instant) {
        if !self.ended.contains(&agency) {
            let _ = reply.send(WinnersReply::NotEnded);
            return;
        }
        // A draw that failed earlier is tried again on demand: no END may be left to trigger it.
        if let Err(err) = self.draw_if_complete(now) {
            let _ = reply.send(WinnersReply::Failed(err));
            return;
        }
        self.parked.push((agency, reply));
        self.release_if_due(now);
    }

    fn release_if_due(&mut self, now: Instant) {
        let Some(drawn) = &self.drawn else {
            return;
        };
        if now < drawn.released_at {
            return;
        }
        for (agency, reply) in self.parked.drain(..) {
            let answer = match self.ledger.drawn_for(agency) {
                Some(mine) => WinnersReply::Winners {
                    documents: mine.winners,
                    receipt: mine.receipt,
                },
                // Only an agency outside 1..=agencies, which never gets to end, could miss.
                None => {
                    WinnersReply::Failed(format!("the draw has no receipt for agency {agency}"))
                }
            };
            let _ = reply.send(answer);
        }
    }

    /// Draws once every agency has ended; the error is the draw's failure, already logged.
    fn draw_if_complete(&mut self, now: Instant) -> Result<(), String> {
        // Only agencies of this round count: a stale END of an agency beyond `agencies` must not
        // stand in for one still uploading.
        if self.drawn.is_some() || self.ended_here < self.agencies {
            return Ok(());
        }
        let recovered = self.ledger.drawn();
        let outcome = match self.unrecorded.take() {
            Some(draw) => Ok(draw),
            None => self.ledger.draw(self.agencies),
        };
        // Durable before it is announced: a restart recovers this draw, never repeats it.
        let outcome = match outcome {
            Ok(draw) if !recovered => match self.ledger.record_draw() {
                Ok(()) => Ok(draw),
                Err(err) => {
                    self.unrecorded = Some(draw);
                    Err(err)
                }
            },
            other => other,
        };
        match outcome {
            Ok(draw) => {
                let total = draw.winners;
                let delay = self.timing.winners_delay.as_millis();
                // The digest is published before any winner is released: anyone holding a copy
                // of the bets file can check it is the one the draw read (the `recount` tool).
                let (bets, digest) = (draw.bets, &draw.digest);
                if recovered {
                    log::info!("action: recover_draw | result: success | ganadores: {total} | apuestas: {bets} | digest: {digest} | winners_delay_ms: {delay}");
                } else {
                    log::info!("action: sorteo | result: success | ganadores: {total} | apuestas: {bets} | digest: {digest}");
                    if delay > 0 {
                        log::debug!(
                            "action: release_winners | result: in_progress | in_ms: {delay}"
                        );
                    }
                }
                self.drawn = Some(Drawn {
                    released_at: now + self.timing.winners_delay,
                });
                self.release_if_due(now);
                Ok(())
            }
            Err(err) => {
                // Parked sessions learn of the failure; their clients retry, and the next END,
                // winners query or restart draws again.
                log::error!("action: sorteo | result: fail | error: {err}");
                let err = err.to_string();
                for (_, reply) in self.parked.drain(..) {
                    let _ = reply.send(WinnersReply::Failed(err.clone()));
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests;
