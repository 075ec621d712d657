//! What an agency asks for: `HELLO` (authenticate, claim, wait for the opening), `END` and its
//! winners. Each goes through the coordinator.

use crate::coordinator::{AuthReply, ClaimReply, EndReply, OpeningReply, Request, WinnersReply};

use super::{Session, Stop, COORDINATOR_TIMEOUT};
use crate::protocol::{ErrorCode, ServerMessage};

impl Session<'_, '_> {
    pub(super) fn hello(&mut self, agency: u32, secret: &[u8]) -> Result<(), Stop> {
        if self.progress.claimed {
            return Err(Stop::Refuse(
                ErrorCode::Malformed,
                "HELLO sent twice".into(),
            ));
        }
        if agency == 0 || agency > self.ctx.config.agencies {
            return Err(Stop::Refuse(
                ErrorCode::BadAgency,
                format!("agency {agency} is not in 1..={}", self.ctx.config.agencies),
            ));
        }
        if let Some(secrets) = self.ctx.secrets {
            let accepted = secrets.accepts(agency, secret);
            let peer = self.ip.clone();
            let verdict = self.ask(
                |reply| Request::Authenticate {
                    peer,
                    accepted,
                    reply,
                },
                Some(COORDINATOR_TIMEOUT),
            )?;
            if let AuthReply::Limited { retry_in_ms } = verdict {
                log::warn!(
                    "action: authenticate | result: fail | ip: {} | agency: {agency} | reason: too many wrong secrets from this address",
                    self.ip
                );
                return Err(Stop::Refuse(
                    ErrorCode::Unauthorized,
                    format!(
                        "too many wrong secrets from this address; retry in {} s",
                        retry_in_ms.div_ceil(1000)
                    ),
                ));
            }
            if !accepted {
                log::warn!(
                    "action: authenticate | result: fail | ip: {} | agency: {agency}",
                    self.ip
                );
                return Err(Stop::Refuse(
                    ErrorCode::Unauthorized,
                    format!("wrong secret for agency {agency}"),
                ));
            }
        }
        let session = std::process::id();
        let reply = self.ask(
            |reply| Request::Claim {
                agency,
                session,
                reply,
            },
            Some(COORDINATOR_TIMEOUT),
        )?;
        match reply {
            ClaimReply::Granted {
                position,
                ended,
                open,
            } => {
                // The claim is ours before any wait (a session that ends releases it), and an
                // agency waiting for the opening no longer counts as an anonymous peer.
                self.progress.agency = agency;
                self.progress.position = position;
                self.progress.ended = ended;
                self.progress.claimed = true;
                (self.ctx.identified)();
                if !open {
                    log::info!(
                        "action: hello | result: in_progress | ip: {} | agency: {agency} | detail: waiting for the round to open",
                        self.ip
                    );
                    // Waiting for the other agencies to check in is not idleness: only SIGTERM.
                    let OpeningReply::Open = self.ask(|reply| Request::Opening { reply }, None)?;
                }
                log::info!(
                    "action: hello | result: success | ip: {} | agency: {agency} | position: {position} | ended: {ended}",
                    self.ip
                );
                self.conn
                    .send(&ServerMessage::Welcome { position, ended })?;
                Ok(())
            }
            ClaimReply::Busy => Err(Stop::Refuse(
                ErrorCode::AgencyBusy,
                format!("agency {agency} is connected elsewhere"),
            )),
            ClaimReply::Failed(err) => Err(Stop::Fail(ErrorCode::Unavailable, err)),
        }
    }

    pub(super) fn end(&mut self, total: u64) -> Result<(), Stop> {
        if !self.progress.claimed {
            return Err(Stop::Refuse(
                ErrorCode::BadAgency,
                "HELLO must come first".into(),
            ));
        }
        let (agency, session) = (self.progress.agency, std::process::id());
        let reply = self.ask(
            |reply| Request::End {
                agency,
                session,
                total,
                reply,
            },
            Some(COORDINATOR_TIMEOUT),
        )?;
        match reply {
            EndReply::Recorded { position } => {
                self.progress.ended = true;
                self.conn.send(&ServerMessage::Ack { position })?;
                Ok(())
            }
            EndReply::CountMismatch { stored } => Err(Stop::Refuse(
                ErrorCode::CountMismatch,
                format!("END says {total} bets, {stored} are stored"),
            )),
            EndReply::NotHolder => Err(Stop::Fail(
                ErrorCode::Unavailable,
                "the coordinator lost this claim".into(),
            )),
            EndReply::Failed(err) => Err(Stop::Fail(ErrorCode::Unavailable, err)),
        }
    }

    pub(super) fn winners(&mut self) -> Result<(), Stop> {
        if !self.progress.claimed {
            return Err(Stop::Refuse(
                ErrorCode::BadAgency,
                "HELLO must come first".into(),
            ));
        }
        if !self.progress.ended {
            return Err(Stop::Refuse(
                ErrorCode::NotEnded,
                "send END before asking for winners".into(),
            ));
        }
        let agency = self.progress.agency;
        // Waiting for the other agencies is not idleness: no timeout here, only SIGTERM.
        match self.ask(|reply| Request::Winners { agency, reply }, None)? {
            WinnersReply::Winners { documents, receipt } => {
                let documents: Vec<&str> = documents.iter().collect();
                self.conn
                    .send_winners(receipt.count, receipt.digest, &documents)?;
                log::info!(
                    "action: enviar_ganadores | result: success | agency: {agency} | cant_ganadores: {} | cantidad: {}",
                    documents.len(),
                    receipt.count
                );
                Ok(())
            }
            WinnersReply::NotEnded => Err(Stop::Refuse(
                ErrorCode::NotEnded,
                "send END before asking for winners".into(),
            )),
            WinnersReply::Failed(err) => Err(Stop::Fail(ErrorCode::Unavailable, err)),
        }
    }
}
