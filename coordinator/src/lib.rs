//! The coordinator: the END barrier and the draw.
//!
//! One coordinator process serves every session child over a single ipc-channel. It owns three
//! decisions no child may take alone:
//! - who holds an agency (one uploading connection per agency; a second claim is refused),
//! - when the barrier opens (END notices from all `agencies` distinct agencies, made durable by the
//!   [`Ledger`] before they are acknowledged), and
//! - what each agency is told (only its own winners, and only after the draw: a query before it is
//!   parked, never answered with partial information).
//!
//! The crate knows nothing about files or sockets: the bets file, its format and the END journal
//! live behind the [`Ledger`] trait, which the server implements over its storage module. That
//! keeps the barrier's rules testable with an in-memory ledger.

#![warn(missing_docs)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ipc_channel::ipc::{IpcReceiver, IpcSender, TryRecvError};
use serde::{Deserialize, Serialize};

/// An agency's number, `1..=agencies`.
pub type AgencyId = u32;

/// A session's identity: the pid of the child process that serves the connection.
pub type SessionId = u32;

/// A request from a session child to the coordinator; each carries the channel for its reply.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Take the agency for this session and learn where its upload resumes.
    Claim {
        /// The agency the connection says it is.
        agency: AgencyId,
        /// The session asking.
        session: SessionId,
        /// Where the answer goes.
        reply: IpcSender<ClaimReply>,
    },
    /// The agency has sent everything: `total` bets.
    End {
        /// The agency ending.
        agency: AgencyId,
        /// The session that holds it.
        session: SessionId,
        /// How many bets the agency says it sent in all.
        total: u64,
        /// Where the answer goes.
        reply: IpcSender<EndReply>,
    },
    /// The agency's winners; answered once the draw has happened.
    Winners {
        /// The agency asking (already authenticated by its session).
        agency: AgencyId,
        /// Where the answer goes.
        reply: IpcSender<WinnersReply>,
    },
    /// The session no longer holds its agency (sent by a child on its way out).
    Release {
        /// The session letting go.
        session: SessionId,
    },
}

/// The answer to [`Request::Claim`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaimReply {
    /// The session holds the agency; its upload resumes at bet `position`.
    Granted {
        /// How many of the agency's bets are stored (and acknowledged or acknowledgeable).
        position: u64,
        /// Whether the agency has already sent END.
        ended: bool,
    },
    /// Another live session holds the agency.
    Busy,
    /// The coordinator could not read its state; retry later.
    Failed(String),
}

/// The answer to [`Request::End`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReply {
    /// The END is durable; `position` bets are stored for the agency.
    Recorded {
        /// Bets stored for the agency.
        position: u64,
    },
    /// The agency's stored count differs from what it claims to have sent.
    CountMismatch {
        /// Bets stored for the agency.
        stored: u64,
    },
    /// The session does not hold the agency.
    NotHolder,
    /// The END could not be made durable; retry later.
    Failed(String),
}

/// The answer to [`Request::Winners`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WinnersReply {
    /// The documents of the agency's winning bets, in file order.
    Winners(Vec<String>),
    /// The agency has not sent END, so the draw cannot include it yet.
    NotEnded,
    /// The draw failed; retry later.
    Failed(String),
}

/// What the coordinator needs from storage: positions, durable ENDs and the draw.
pub trait Ledger {
    /// The storage error, shown in logs and in `Failed` replies.
    type Error: fmt::Display;

    /// How many bets of `agency` are stored, catching up with everything appended so far.
    fn position(&mut self, agency: AgencyId) -> Result<u64, Self::Error>;

    /// The agencies whose END is already durable (read when the ledger was opened).
    fn ended(&self) -> BTreeSet<AgencyId>;

    /// Makes the END of `agency` durable, after `total` bets.
    fn record_end(&mut self, agency: AgencyId, total: u64) -> Result<(), Self::Error>;

    /// Reads every stored bet and returns the winners' documents per agency, in file order.
    fn draw(&mut self) -> Result<BTreeMap<AgencyId, Vec<String>>, Self::Error>;
}

/// Tells whether a session is still alive; a dead holder's claim is void.
pub trait Liveness {
    /// True while the session's process exists.
    fn is_alive(&self, session: SessionId) -> bool;
}

/// The barrier's state: claims, ENDs, parked winners queries and, after the draw, its result.
pub struct Coordinator<L: Ledger, A: Liveness> {
    ledger: L,
    liveness: A,
    agencies: u32,
    claims: HashMap<AgencyId, SessionId>,
    ended: BTreeSet<AgencyId>,
    parked: Vec<(AgencyId, IpcSender<WinnersReply>)>,
    winners: Option<BTreeMap<AgencyId, Vec<String>>>,
}

impl<L: Ledger, A: Liveness> Coordinator<L, A> {
    /// A coordinator for `agencies` agencies over an opened ledger; draws at once if every END is
    /// already durable (a restart after the barrier opened).
    pub fn new(ledger: L, liveness: A, agencies: u32) -> Self {
        let ended = ledger.ended();
        let mut coordinator = Coordinator {
            ledger,
            liveness,
            agencies,
            claims: HashMap::new(),
            ended,
            parked: Vec::new(),
            winners: None,
        };
        coordinator.draw_if_complete();
        coordinator
    }

    /// Whether the draw has happened in this run.
    pub fn has_drawn(&self) -> bool {
        self.winners.is_some()
    }

    /// Serves one request; replies that cannot be delivered (the child died) are dropped.
    pub fn serve(&mut self, request: Request) {
        match request {
            Request::Claim {
                agency,
                session,
                reply,
            } => {
                let answer = self.claim(agency, session);
                let _ = reply.send(answer);
            }
            Request::End {
                agency,
                session,
                total,
                reply,
            } => {
                let answer = self.end(agency, session, total);
                let _ = reply.send(answer);
                self.draw_if_complete();
            }
            Request::Winners { agency, reply } => self.winners(agency, reply),
            Request::Release { session } => self.claims.retain(|_, holder| *holder != session),
        }
    }

    fn claim(&mut self, agency: AgencyId, session: SessionId) -> ClaimReply {
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
                ClaimReply::Granted { position, ended }
            }
            Err(err) => {
                log::error!(
                    "action: claim_agency | result: fail | agency: {agency} | error: {err}"
                );
                ClaimReply::Failed(err.to_string())
            }
        }
    }

    fn end(&mut self, agency: AgencyId, session: SessionId, total: u64) -> EndReply {
        if self.claims.get(&agency) != Some(&session) {
            return EndReply::NotHolder;
        }
        let stored = match self.ledger.position(agency) {
            Ok(stored) => stored,
            Err(err) => return EndReply::Failed(err.to_string()),
        };
        if stored != total {
            log::error!(
                "action: end_agency | result: fail | agency: {agency} | stored: {stored} | announced: {total}"
            );
            return EndReply::CountMismatch { stored };
        }
        if self.ended.insert(agency) {
            if let Err(err) = self.ledger.record_end(agency, total) {
                self.ended.remove(&agency);
                log::error!("action: end_agency | result: fail | agency: {agency} | error: {err}");
                return EndReply::Failed(err.to_string());
            }
            log::info!(
                "action: end_agency | result: success | agency: {agency} | bets: {total} | ended: {}/{}",
                self.ended.len(),
                self.agencies
            );
        }
        EndReply::Recorded { position: stored }
    }

    fn winners(&mut self, agency: AgencyId, reply: IpcSender<WinnersReply>) {
        if !self.ended.contains(&agency) {
            let _ = reply.send(WinnersReply::NotEnded);
            return;
        }
        match &self.winners {
            Some(all) => {
                let mine = all.get(&agency).cloned().unwrap_or_default();
                let _ = reply.send(WinnersReply::Winners(mine));
            }
            None => self.parked.push((agency, reply)),
        }
    }

    fn draw_if_complete(&mut self) {
        if self.winners.is_some() || (self.ended.len() as u64) < u64::from(self.agencies) {
            return;
        }
        match self.ledger.draw() {
            Ok(winners) => {
                let total: usize = winners.values().map(Vec::len).sum();
                log::info!("action: sorteo | result: success | ganadores: {total}");
                for (agency, reply) in self.parked.drain(..) {
                    let mine = winners.get(&agency).cloned().unwrap_or_default();
                    let _ = reply.send(WinnersReply::Winners(mine));
                }
                self.winners = Some(winners);
            }
            Err(err) => {
                // Parked sessions learn of the failure; their clients retry and a later END or
                // restart draws again.
                log::error!("action: sorteo | result: fail | error: {err}");
                for (_, reply) in self.parked.drain(..) {
                    let _ = reply.send(WinnersReply::Failed(err.to_string()));
                }
            }
        }
    }
}

/// Serves requests from `requests` until `stop` is set; checks `stop` at least every `tick`.
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
        match requests.try_recv_timeout(tick) {
            Ok(request) => coordinator.serve(request),
            Err(TryRecvError::Empty) => {}
            // A signal (SIGTERM among them) interrupts the wait; the loop condition decides.
            Err(TryRecvError::IpcError(ipc_channel::ipc::IpcError::Io(err)))
                if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(TryRecvError::IpcError(err)) => return Err(format!("{err:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_channel::ipc;

    /// An in-memory ledger: bets per agency as (document, number).
    #[derive(Default)]
    struct MemoryLedger {
        bets: BTreeMap<AgencyId, Vec<(String, u32)>>,
        ended: BTreeSet<AgencyId>,
        draws: u32,
        fail_end: bool,
    }

    impl Ledger for MemoryLedger {
        type Error = String;
        fn position(&mut self, agency: AgencyId) -> Result<u64, String> {
            Ok(self.bets.get(&agency).map_or(0, |b| b.len() as u64))
        }
        fn ended(&self) -> BTreeSet<AgencyId> {
            self.ended.clone()
        }
        fn record_end(&mut self, agency: AgencyId, _total: u64) -> Result<(), String> {
            if self.fail_end {
                return Err("disk full".into());
            }
            self.ended.insert(agency);
            Ok(())
        }
        fn draw(&mut self) -> Result<BTreeMap<AgencyId, Vec<String>>, String> {
            self.draws += 1;
            Ok(self
                .bets
                .iter()
                .map(|(a, bets)| {
                    let docs = bets.iter().filter(|(_, n)| *n == 7574);
                    (*a, docs.map(|(d, _)| d.clone()).collect())
                })
                .collect())
        }
    }

    struct Alive(Vec<SessionId>);
    impl Liveness for Alive {
        fn is_alive(&self, session: SessionId) -> bool {
            self.0.contains(&session)
        }
    }

    fn ledger() -> MemoryLedger {
        let mut ledger = MemoryLedger::default();
        ledger
            .bets
            .insert(1, vec![("111".into(), 7574), ("112".into(), 1)]);
        ledger
            .bets
            .insert(2, vec![("221".into(), 7574), ("222".into(), 7574)]);
        ledger
    }

    fn claim(c: &mut Coordinator<MemoryLedger, Alive>, agency: u32, session: u32) -> ClaimReply {
        let (tx, rx) = ipc::channel().unwrap();
        c.serve(Request::Claim {
            agency,
            session,
            reply: tx,
        });
        rx.recv().unwrap()
    }

    fn end(
        c: &mut Coordinator<MemoryLedger, Alive>,
        agency: u32,
        session: u32,
        total: u64,
    ) -> EndReply {
        let (tx, rx) = ipc::channel().unwrap();
        c.serve(Request::End {
            agency,
            session,
            total,
            reply: tx,
        });
        rx.recv().unwrap()
    }

    #[test]
    fn second_live_claim_is_busy_and_dead_holder_is_replaced() {
        let mut c = Coordinator::new(ledger(), Alive(vec![10]), 2);
        assert_eq!(
            claim(&mut c, 1, 10),
            ClaimReply::Granted {
                position: 2,
                ended: false
            }
        );
        assert_eq!(claim(&mut c, 1, 11), ClaimReply::Busy);
        // Session 12 claims agency 2 whose earlier holder (13) is dead.
        assert!(matches!(claim(&mut c, 2, 13), ClaimReply::Granted { .. }));
        assert!(matches!(claim(&mut c, 2, 12), ClaimReply::Granted { .. }));
        c.serve(Request::Release { session: 10 });
        assert!(matches!(claim(&mut c, 1, 11), ClaimReply::Granted { .. }));
    }

    #[test]
    fn winners_wait_for_every_end_and_each_agency_gets_only_its_own() {
        let mut c = Coordinator::new(ledger(), Alive(vec![1, 2]), 2);
        claim(&mut c, 1, 1);
        claim(&mut c, 2, 2);
        assert_eq!(end(&mut c, 1, 1, 2), EndReply::Recorded { position: 2 });
        let (tx1, rx1) = ipc::channel().unwrap();
        c.serve(Request::Winners {
            agency: 1,
            reply: tx1,
        });
        // Parked: nothing before the draw.
        assert!(matches!(rx1.try_recv(), Err(TryRecvError::Empty)));
        assert!(!c.has_drawn());
        assert_eq!(end(&mut c, 2, 2, 2), EndReply::Recorded { position: 2 });
        assert!(c.has_drawn());
        assert_eq!(
            rx1.recv().unwrap(),
            WinnersReply::Winners(vec!["111".into()])
        );
        let (tx2, rx2) = ipc::channel().unwrap();
        c.serve(Request::Winners {
            agency: 2,
            reply: tx2,
        });
        assert_eq!(
            rx2.recv().unwrap(),
            WinnersReply::Winners(vec!["221".into(), "222".into()])
        );
        assert_eq!(c.ledger.draws, 1, "the draw happens once");
    }

    #[test]
    fn end_is_refused_for_wrong_count_non_holder_and_storage_failure() {
        let mut c = Coordinator::new(ledger(), Alive(vec![1]), 2);
        claim(&mut c, 1, 1);
        assert_eq!(end(&mut c, 1, 1, 3), EndReply::CountMismatch { stored: 2 });
        assert_eq!(end(&mut c, 1, 99, 2), EndReply::NotHolder);
        c.ledger.fail_end = true;
        assert!(matches!(end(&mut c, 1, 1, 2), EndReply::Failed(_)));
        assert!(c.ended.is_empty(), "a failed END is not counted");
        let (tx, rx) = ipc::channel().unwrap();
        c.serve(Request::Winners {
            agency: 1,
            reply: tx,
        });
        assert_eq!(rx.recv().unwrap(), WinnersReply::NotEnded);
    }

    #[test]
    fn a_restart_with_every_end_durable_draws_at_once() {
        let mut l = ledger();
        l.ended = [1, 2].into_iter().collect();
        let mut c = Coordinator::new(l, Alive(vec![]), 2);
        assert!(c.has_drawn());
        claim(&mut c, 2, 5);
        assert_eq!(
            claim(&mut c, 2, 5),
            ClaimReply::Granted {
                position: 2,
                ended: true
            }
        );
    }
}
