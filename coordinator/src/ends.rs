//! ENDs as a batch of requests brings them: each checked against the claim and the stored count,
//! written, then made durable by one sync for the whole batch before any is acknowledged (a
//! group commit), and only then counted toward the barrier.

use ipc_channel::ipc::IpcSender;

use crate::{AgencyId, Coordinator, EndReply, Ledger, Liveness, SessionId};

/// ENDs written but not yet synced, with their replies: agency, total, where the answer goes.
#[derive(Default)]
pub(crate) struct Unsynced(Vec<(AgencyId, u64, IpcSender<EndReply>)>);

impl Unsynced {
    /// Whether the batch wrote no END.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<L: Ledger, A: Liveness> Coordinator<L, A> {
    /// Answers an END at once, or writes it and leaves its answer in `unsynced` until the sync.
    pub(crate) fn end(
        &mut self,
        agency: AgencyId,
        session: SessionId,
        total: u64,
        reply: IpcSender<EndReply>,
        unsynced: &mut Unsynced,
    ) {
        let answer = if self.claims.get(&agency) != Some(&session) {
            EndReply::NotHolder
        } else {
            match self.ledger.position(agency) {
                Err(err) => EndReply::Failed(err.to_string()),
                Ok(stored) if stored != total => {
                    log::error!(
                        "action: end_agency | result: fail | agency: {agency} | stored: {stored} | announced: {total}"
                    );
                    EndReply::CountMismatch { stored }
                }
                // Written already, by an earlier END of this batch: answered with it.
                Ok(_) if unsynced.0.iter().any(|end| end.0 == agency) => {
                    unsynced.0.push((agency, total, reply));
                    return;
                }
                Ok(_) if !self.ended.contains(&agency) => {
                    if let Err(err) = self.ledger.record_end(agency, total) {
                        log::error!(
                            "action: end_agency | result: fail | agency: {agency} | error: {err}"
                        );
                        EndReply::Failed(err.to_string())
                    } else {
                        unsynced.0.push((agency, total, reply));
                        return;
                    }
                }
                Ok(stored) => EndReply::Recorded { position: stored },
            }
        };
        let _ = reply.send(answer);
    }

    /// Syncs the ENDs written by this batch and answers each: only a durable END counts toward
    /// the barrier or is acknowledged.
    pub(crate) fn acknowledge_ends(&mut self, unsynced: Unsynced) {
        let synced = self.ledger.sync_ends().map_err(|err| err.to_string());
        for (agency, total, reply) in unsynced.0 {
            let answer = match &synced {
                Ok(()) => {
                    // A repeat of an END in the same batch is answered, not counted again.
                    if self.ended.insert(agency) {
                        if (1..=self.agencies).contains(&agency) {
                            self.ended_here += 1;
                        }
                        log::info!(
                            "action: end_agency | result: success | agency: {agency} | bets: {total} | ended: {}/{}",
                            self.ended_here,
                            self.agencies
                        );
                    }
                    EndReply::Recorded { position: total }
                }
                Err(err) => {
                    log::error!(
                        "action: end_agency | result: fail | agency: {agency} | error: {err}"
                    );
                    EndReply::Failed(err.clone())
                }
            };
            let _ = reply.send(answer);
        }
    }
}
