use super::*;
use ipc_channel::ipc::{self, TryRecvError};
use std::collections::BTreeMap;
use std::thread::sleep;
use std::time::Duration;

/// An in-memory ledger: bets per agency as (document, number).
#[derive(Default)]
struct MemoryLedger {
    bets: BTreeMap<AgencyId, Vec<(String, u32)>>,
    ended: BTreeSet<AgencyId>,
    draws: u32,
    fail_end: bool,
    fail_draw: bool,
    fail_record: bool,
    fail_sync: bool,
    syncs: u32,
    drawn: bool,
    draw_records: u32,
    /// What the last draw read, agency 1 first.
    read: Vec<AgencyDraw>,
}

impl Ledger for MemoryLedger {
    type Error = String;
    fn position(&mut self, agency: AgencyId) -> Result<u64, String> {
        Ok(self.bets.get(&agency).map_or(0, |b| b.len() as u64))
    }
    fn stored_at_open(&self) -> u64 {
        self.bets.values().map(|b| b.len() as u64).sum()
    }
    fn ended(&self) -> BTreeSet<AgencyId> {
        self.ended.clone()
    }
    fn drawn(&self) -> bool {
        self.drawn
    }
    fn record_draw(&mut self) -> Result<(), String> {
        if self.fail_record {
            return Err("journal unwritable".into());
        }
        self.draw_records += 1;
        self.drawn = true;
        Ok(())
    }
    fn sync_ends(&mut self) -> Result<(), String> {
        if self.fail_sync {
            return Err("sync failed".into());
        }
        self.syncs += 1;
        Ok(())
    }
    fn record_end(&mut self, agency: AgencyId, _total: u64) -> Result<(), String> {
        if self.fail_end {
            return Err("disk full".into());
        }
        self.ended.insert(agency);
        Ok(())
    }
    fn draw(&mut self, agencies: u32) -> Result<Draw, String> {
        if self.fail_draw {
            return Err("disk unreadable".into());
        }
        self.draws += 1;
        let none = Vec::new();
        self.read = (1..=agencies)
            .map(|a| {
                let bets = self.bets.get(&a).unwrap_or(&none);
                let docs = bets.iter().filter(|(_, n)| *n == 7574);
                AgencyDraw {
                    winners: docs.map(|(d, _)| d.as_str()).collect(),
                    receipt: receipt(a, bets.len() as u64),
                }
            })
            .collect();
        Ok(Draw {
            bets: self.stored_at_open(),
            digest: "00".repeat(32),
            winners: self.read.iter().map(|a| a.winners.len() as u64).sum(),
        })
    }
    fn drawn_for(&self, agency: AgencyId) -> Option<AgencyDraw> {
        let at = usize::try_from(agency.checked_sub(1)?).ok()?;
        self.read.get(at).cloned()
    }
}

/// The memory ledger's stand-in for a digest: the agency's number in every byte.
fn receipt(agency: AgencyId, count: u64) -> Receipt {
    Receipt {
        count,
        digest: [agency as u8; 32],
    }
}

/// What agency `agency`, with `count` bets, is told.
fn told(agency: AgencyId, count: u64, documents: &[&str]) -> WinnersReply {
    WinnersReply::Winners {
        documents: documents.iter().copied().collect(),
        receipt: receipt(agency, count),
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
    let mut c = Coordinator::new(ledger(), Alive(vec![10]), 2, Timing::default());
    assert_eq!(
        claim(&mut c, 1, 10),
        ClaimReply::Granted {
            position: 2,
            ended: false,
            open: true
        }
    );
    assert_eq!(claim(&mut c, 1, 11), ClaimReply::Busy);
    // Session 12 claims agency 2 whose earlier holder (13) is dead.
    assert!(matches!(claim(&mut c, 2, 13), ClaimReply::Granted { .. }));
    assert!(matches!(claim(&mut c, 2, 12), ClaimReply::Granted { .. }));
    // A release by a session that does not hold the agency changes nothing.
    c.serve(Request::Release {
        agency: 1,
        session: 12,
    });
    assert_eq!(claim(&mut c, 1, 11), ClaimReply::Busy);
    c.serve(Request::Release {
        agency: 1,
        session: 10,
    });
    assert!(matches!(claim(&mut c, 1, 11), ClaimReply::Granted { .. }));
}

#[test]
fn winners_wait_for_every_end_and_each_agency_gets_only_its_own() {
    let mut c = Coordinator::new(ledger(), Alive(vec![1, 2]), 2, Timing::default());
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
    assert_eq!(rx1.recv().unwrap(), told(1, 2, &["111"]));
    let (tx2, rx2) = ipc::channel().unwrap();
    c.serve(Request::Winners {
        agency: 2,
        reply: tx2,
    });
    assert_eq!(rx2.recv().unwrap(), told(2, 2, &["221", "222"]));
    assert_eq!(c.ledger.draws, 1, "the draw happens once");
    assert_eq!(
        c.ledger.draw_records, 1,
        "the draw is recorded before it is announced"
    );
}

#[test]
fn end_is_refused_for_wrong_count_non_holder_and_storage_failure() {
    let mut c = Coordinator::new(ledger(), Alive(vec![1]), 2, Timing::default());
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
    l.drawn = true;
    let mut c = Coordinator::new(l, Alive(vec![]), 2, Timing::default());
    assert!(c.has_drawn());
    assert_eq!(
        c.ledger.draw_records, 0,
        "a recovered draw is not recorded again"
    );
    claim(&mut c, 2, 5);
    assert_eq!(
        claim(&mut c, 2, 5),
        ClaimReply::Granted {
            position: 2,
            ended: true,
            open: true
        }
    );
}

fn winners(
    c: &mut Coordinator<MemoryLedger, Alive>,
    agency: u32,
) -> ipc::IpcReceiver<WinnersReply> {
    let (tx, rx) = ipc::channel().unwrap();
    c.serve(Request::Winners { agency, reply: tx });
    rx
}

fn opening(c: &mut Coordinator<MemoryLedger, Alive>) -> ipc::IpcReceiver<OpeningReply> {
    let (tx, rx) = ipc::channel().unwrap();
    c.serve(Request::Opening { reply: tx });
    rx
}

const WATCHED: Timing = Timing {
    opening_delay: Duration::from_millis(80),
    winners_delay: Duration::from_millis(80),
};

#[test]
fn a_new_round_opens_a_delay_after_the_last_agency_checks_in() {
    let mut c = Coordinator::new(MemoryLedger::default(), Alive(vec![1, 2]), 2, WATCHED);
    assert!(!c.is_open());
    assert_eq!(
        claim(&mut c, 1, 1),
        ClaimReply::Granted {
            position: 0,
            ended: false,
            open: false
        }
    );
    let early = opening(&mut c);
    sleep(Duration::from_millis(120));
    c.tick(Instant::now());
    assert!(
        matches!(early.try_recv(), Err(TryRecvError::Empty)),
        "one agency of two has checked in: the delay has not started"
    );
    assert_eq!(c.next_deadline(), None);
    let checked_in = Instant::now();
    claim(&mut c, 2, 2);
    let at = c.next_deadline().expect("the opening is scheduled");
    assert!(at >= checked_in + WATCHED.opening_delay);
    c.tick(Instant::now());
    assert!(
        matches!(early.try_recv(), Err(TryRecvError::Empty)),
        "not before its time"
    );
    sleep(at.saturating_duration_since(Instant::now()));
    c.tick(Instant::now());
    assert_eq!(early.recv().unwrap(), OpeningReply::Open);
    assert!(c.is_open());
    assert_eq!(
        opening(&mut c).recv().unwrap(),
        OpeningReply::Open,
        "open now: answered at once"
    );
}

#[test]
fn a_round_already_on_record_is_open_at_once() {
    let c = Coordinator::new(ledger(), Alive(vec![]), 2, WATCHED);
    assert!(c.is_open(), "bets are stored: the round is under way");
    let mut l = MemoryLedger::default();
    l.ended.insert(1);
    assert!(Coordinator::new(l, Alive(vec![]), 2, WATCHED).is_open());
}

#[test]
fn winners_are_released_a_delay_after_the_draw_even_to_late_askers() {
    let mut l = ledger();
    l.ended = [1].into_iter().collect();
    let mut c = Coordinator::new(l, Alive(vec![2]), 2, WATCHED);
    let parked = winners(&mut c, 1);
    claim(&mut c, 2, 2);
    let drawn_at = Instant::now();
    assert_eq!(end(&mut c, 2, 2, 2), EndReply::Recorded { position: 2 });
    assert!(c.has_drawn());
    let late = winners(&mut c, 2);
    c.tick(Instant::now());
    assert!(matches!(parked.try_recv(), Err(TryRecvError::Empty)));
    assert!(matches!(late.try_recv(), Err(TryRecvError::Empty)));
    let at = c.next_deadline().expect("the release is scheduled");
    assert!(at >= drawn_at + WATCHED.winners_delay);
    sleep(at.saturating_duration_since(Instant::now()));
    c.tick(Instant::now());
    assert_eq!(parked.recv().unwrap(), told(1, 2, &["111"]));
    assert_eq!(late.recv().unwrap(), told(2, 2, &["221", "222"]));
    assert_eq!(c.next_deadline(), None, "nothing left to do");
}

#[test]
fn a_failed_draw_is_told_and_tried_again_on_the_next_query() {
    let mut l = ledger();
    l.ended = [1, 2].into_iter().collect();
    l.fail_draw = true;
    let mut c = Coordinator::new(l, Alive(vec![]), 2, Timing::default());
    assert!(!c.has_drawn());
    assert!(matches!(
        winners(&mut c, 1).recv().unwrap(),
        WinnersReply::Failed(_)
    ));
    c.ledger.fail_draw = false;
    assert_eq!(winners(&mut c, 1).recv().unwrap(), told(1, 2, &["111"]));
    assert_eq!(c.ledger.draw_records, 1);
}

#[test]
fn a_draw_whose_record_failed_is_recorded_later_without_drawing_again() {
    let mut l = ledger();
    l.ended = [1, 2].into_iter().collect();
    l.fail_record = true;
    let mut c = Coordinator::new(l, Alive(vec![]), 2, Timing::default());
    assert!(!c.has_drawn(), "not announced before it is on record");
    assert!(matches!(
        winners(&mut c, 1).recv().unwrap(),
        WinnersReply::Failed(_)
    ));
    c.ledger.fail_record = false;
    assert_eq!(
        winners(&mut c, 2).recv().unwrap(),
        told(2, 2, &["221", "222"])
    );
    assert_eq!(winners(&mut c, 1).recv().unwrap(), told(1, 2, &["111"]));
    assert_eq!((c.ledger.draws, c.ledger.draw_records), (1, 1));
}

/// ENDs of agencies 1 and 2 (sessions 1 and 2, two bets each) served as one batch.
fn ends_together(c: &mut Coordinator<MemoryLedger, Alive>) -> [EndReply; 2] {
    let (tx1, rx1) = ipc::channel().unwrap();
    let (tx2, rx2) = ipc::channel().unwrap();
    let end = |agency, reply| Request::End {
        agency,
        session: agency,
        total: 2,
        reply,
    };
    c.serve_all([end(1, tx1), end(2, tx2)]);
    [rx1.recv().unwrap(), rx2.recv().unwrap()]
}

#[test]
fn ends_that_arrive_together_are_made_durable_by_one_sync() {
    let mut c = Coordinator::new(ledger(), Alive(vec![1, 2]), 2, Timing::default());
    claim(&mut c, 1, 1);
    claim(&mut c, 2, 2);
    let recorded = EndReply::Recorded { position: 2 };
    assert_eq!(ends_together(&mut c), [recorded.clone(), recorded]);
    assert_eq!(c.ledger.syncs, 1);
    assert!(c.has_drawn(), "drawn once both ENDs were durable");
}

#[test]
fn ends_whose_sync_failed_are_told_so_and_do_not_open_the_barrier() {
    let mut c = Coordinator::new(ledger(), Alive(vec![1, 2]), 2, Timing::default());
    claim(&mut c, 1, 1);
    claim(&mut c, 2, 2);
    c.ledger.fail_sync = true;
    let [one, two] = ends_together(&mut c);
    assert!(matches!(
        (one, two),
        (EndReply::Failed(_), EndReply::Failed(_))
    ));
    assert!(!c.has_drawn());
    assert_eq!(winners(&mut c, 1).recv().unwrap(), WinnersReply::NotEnded);
    // The clients send END again; once it syncs, the round goes on.
    c.ledger.fail_sync = false;
    assert_eq!(end(&mut c, 1, 1, 2), EndReply::Recorded { position: 2 });
    assert!(!c.has_drawn());
    assert_eq!(end(&mut c, 2, 2, 2), EndReply::Recorded { position: 2 });
    assert!(c.has_drawn());
}

#[test]
fn ends_of_agencies_outside_the_round_do_not_count_toward_the_barrier() {
    let mut l = ledger();
    l.ended = [3, 4].into_iter().collect();
    let mut c = Coordinator::new(l, Alive(vec![1, 2]), 2, Timing::default());
    assert!(
        !c.has_drawn(),
        "two ENDs on record, but of agencies 3 and 4"
    );
    claim(&mut c, 1, 1);
    assert_eq!(end(&mut c, 1, 1, 2), EndReply::Recorded { position: 2 });
    assert!(!c.has_drawn(), "agency 2 has not ended");
    claim(&mut c, 2, 2);
    end(&mut c, 2, 2, 2);
    assert!(c.has_drawn());
}

#[test]
fn an_agency_outside_the_draw_is_told_it_failed() {
    let mut l = ledger();
    l.ended = [1, 2, 3].into_iter().collect();
    let mut c = Coordinator::new(l, Alive(vec![]), 2, Timing::default());
    assert!(c.has_drawn());
    assert_eq!(
        winners(&mut c, 2).recv().unwrap(),
        told(2, 2, &["221", "222"])
    );
    // Agency 3 ended in an earlier, larger round; this one drew agencies 1 and 2 only.
    assert!(matches!(
        winners(&mut c, 3).recv().unwrap(),
        WinnersReply::Failed(_)
    ));
}
