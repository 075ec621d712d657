use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use super::*;
use crate::config::SyncMode;
use crate::domain::{Bet, ContentHasher, RawBet, ReceiptBuilder};
use crate::storage::{ends_path, BetsFile, PendingRows};

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tp0-ledger-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn bets(&self) -> PathBuf {
        self.0.join("bets.csv")
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The bytes of `bets` as rows of `agency`, the way a session formats them.
fn rows(agency: u32, bets: &[(&str, &str, &str)]) -> Vec<u8> {
    pending(agency, bets).bytes().to_vec()
}

/// The documents the draw gave `agency`.
fn winners_of(ledger: &BetsLedger<'_>, agency: u32) -> Vec<String> {
    let drawn = ledger.drawn_for(agency).unwrap();
    drawn.winners.iter().map(str::to_owned).collect()
}

fn pending(agency: u32, bets: &[(&str, &str, &str)]) -> PendingRows {
    let mut out = PendingRows::default();
    for (name, doc, number) in bets {
        let raw = RawBet {
            first_name: name.as_bytes(),
            last_name: b"Perez",
            document: doc.as_bytes(),
            birthdate: b"1990-01-31",
            number: number.as_bytes(),
        };
        out.push(agency, &Bet::validate(&raw).unwrap());
    }
    out
}

#[test]
fn appended_rows_read_back_byte_identical_with_positions_and_winners() {
    let dir = TempDir::new("roundtrip");
    let commit = CommitState::new().unwrap();
    let mut ledger = BetsLedger::open(&dir.bets(), &commit).unwrap();
    let mut file = BetsFile::open(&dir.bets(), &commit, SyncMode::Durable).unwrap();
    let a = [("Ana, \"la\"\nmaría", "1", "7574"), ("Bo", "2", "1")];
    let b = [("Cé", "3", "7574")];
    file.append(&mut pending(1, &a)).unwrap();
    file.append(&mut pending(2, &b)).unwrap();
    let (a, b) = (rows(1, &a), rows(2, &b));
    assert_eq!(
        commit.synced(),
        (a.len() + b.len()) as u64,
        "durable mode syncs"
    );
    assert_eq!(ledger.position(1).unwrap(), 2);
    assert_eq!(ledger.position(2).unwrap(), 1);
    assert_eq!(ledger.position(3).unwrap(), 0);
    let draw = ledger.draw(3).unwrap();
    assert_eq!(draw.winners, 2);
    // Asked again, the draw answers the same, not empty.
    assert_eq!(ledger.draw(3).unwrap(), draw);
    let winners = |agency| winners_of(&ledger, agency);
    assert_eq!(winners(1), ["1"]);
    assert_eq!(winners(2), ["3"]);
    assert!(ledger.drawn_for(3).unwrap().winners.is_empty());
    // Receipts of the fields as the agency sent them, the quoted name unescaped.
    let mut one = ReceiptBuilder::new();
    one.add(
        "Ana, \"la\"\nmaría".as_bytes(),
        b"Perez",
        b"1",
        b"1990-01-31",
        7574,
    );
    one.add(b"Bo", b"Perez", b"2", b"1990-01-31", 1);
    let one = one.receipt();
    assert_eq!(
        (
            ledger.drawn_for(1).unwrap().receipt.count,
            ledger.drawn_for(1).unwrap().receipt.digest
        ),
        (2, one.digest.0)
    );
    assert_eq!(ledger.drawn_for(3).unwrap().receipt.count, 0);
    assert_eq!(draw.bets, 3);
    let on_disk = std::fs::read(dir.bets()).unwrap();
    let mut whole = ContentHasher::new();
    whole.update(&on_disk);
    assert_eq!(
        draw.digest,
        whole.digest().to_string(),
        "the digest of every stored byte"
    );
    assert_eq!(on_disk, [a.as_slice(), b.as_slice()].concat());
    // The csv crate (like Python's csv module) reads the quoted name back unchanged.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&on_disk[..]);
    let first = reader.records().next().unwrap().unwrap();
    assert_eq!(&first[1], "Ana, \"la\"\nmaría");
}

#[test]
fn a_torn_last_row_is_cut_at_startup_and_positions_are_exact() {
    let dir = TempDir::new("torn");
    let whole = rows(1, &[("Ana", "1", "7574"), ("Bo", "2", "1")]);
    let torn = rows(1, &[("Ana \"x\nquoted", "3", "7574")]);
    for cut in 1..torn.len() {
        let mut bytes = whole.clone();
        bytes.extend_from_slice(&torn[..cut]);
        std::fs::write(dir.bets(), &bytes).unwrap();
        let commit = CommitState::new().unwrap();
        let mut ledger = BetsLedger::open(&dir.bets(), &commit).unwrap();
        assert_eq!(ledger.position(1).unwrap(), 2, "cut at {cut}");
        assert_eq!(std::fs::read(dir.bets()).unwrap(), whole, "cut at {cut}");
        assert_eq!(commit.committed(), whole.len() as u64);
    }
}

#[test]
fn garbage_before_the_last_row_is_reported_not_repaired() {
    let dir = TempDir::new("corrupt");
    let mut bytes = rows(1, &[("Ana", "1", "1")]);
    let bad_at = bytes.len() as u64;
    bytes.extend_from_slice(b"not,a,bet\r\n");
    bytes.extend_from_slice(&rows(1, &[("Bo", "2", "2")]));
    std::fs::write(dir.bets(), &bytes).unwrap();
    let commit = CommitState::new().unwrap();
    let err = BetsLedger::open(&dir.bets(), &commit).err().unwrap();
    assert!(
        matches!(err, StorageError::Corrupt { offset, .. } if offset == bad_at),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.bets()).unwrap(), bytes, "nothing is cut");
}

#[test]
fn bytes_a_dead_writer_left_past_the_commit_mark_are_cut_by_the_next_writer() {
    let dir = TempDir::new("deadwriter");
    let commit = CommitState::new().unwrap();
    let mut ledger = BetsLedger::open(&dir.bets(), &commit).unwrap();
    let mut file = BetsFile::open(&dir.bets(), &commit, SyncMode::Relaxed).unwrap();
    let good = [("Ana", "1", "1")];
    file.append(&mut pending(1, &good)).unwrap();
    let good = rows(1, &good);
    // A writer died mid-write: bytes on disk, commit mark not moved.
    let mut raw = OpenOptions::new().append(true).open(dir.bets()).unwrap();
    raw.write_all(b"1,Half,wri").unwrap();
    assert_eq!(
        ledger.position(1).unwrap(),
        1,
        "readers stop at the commit mark"
    );
    let next = [("Bo", "2", "7574")];
    file.append(&mut pending(2, &next)).unwrap();
    let next = rows(2, &next);
    assert_eq!(
        std::fs::read(dir.bets()).unwrap(),
        [good.as_slice(), next.as_slice()].concat()
    );
    assert_eq!(ledger.position(2).unwrap(), 1);
}

#[test]
fn ends_survive_a_reopen_and_a_torn_end_line_is_dropped() {
    let dir = TempDir::new("ends");
    let commit = CommitState::new().unwrap();
    {
        let mut ledger = BetsLedger::open(&dir.bets(), &commit).unwrap();
        ledger.record_end(1, 0).unwrap();
        ledger.record_end(3, 0).unwrap();
        ledger.sync_ends().unwrap();
    }
    let mut journal = OpenOptions::new()
        .append(true)
        .open(ends_path(&dir.bets()))
        .unwrap();
    journal.write_all(b"2,1").unwrap();
    let ledger = BetsLedger::open(&dir.bets(), &commit).unwrap();
    assert_eq!(ledger.ended(), [1, 3].into_iter().collect());
    assert_eq!(
        std::fs::read_to_string(ends_path(&dir.bets())).unwrap(),
        "1,0\n3,0\n"
    );
}

#[test]
fn a_recorded_draw_and_the_stored_count_survive_a_reopen() {
    let dir = TempDir::new("drawn");
    let commit = CommitState::new().unwrap();
    {
        let mut ledger = BetsLedger::open(&dir.bets(), &commit).unwrap();
        assert_eq!(ledger.stored_at_open(), 0, "a new round");
        assert!(!ledger.drawn());
        let mut file = BetsFile::open(&dir.bets(), &commit, SyncMode::Durable).unwrap();
        file.append(&mut pending(1, &[("Ana", "1", "7574"), ("Bo", "2", "1")]))
            .unwrap();
        ledger.record_end(1, 2).unwrap();
        ledger.sync_ends().unwrap();
        ledger.record_draw().unwrap();
        assert!(ledger.drawn());
    }
    let ledger = BetsLedger::open(&dir.bets(), &commit).unwrap();
    assert!(ledger.drawn(), "the draw is on record");
    assert_eq!(ledger.stored_at_open(), 2);
    assert_eq!(ledger.ended(), [1].into_iter().collect());
    assert_eq!(
        std::fs::read_to_string(ends_path(&dir.bets())).unwrap(),
        "1,2\ndraw\n"
    );
}

#[test]
fn receipts_close_at_a_durable_end_and_a_bet_after_it_is_still_counted() {
    let dir = TempDir::new("sealed");
    let commit = CommitState::new().unwrap();
    let mut ledger = BetsLedger::open(&dir.bets(), &commit).unwrap();
    let mut file = BetsFile::open(&dir.bets(), &commit, SyncMode::Relaxed).unwrap();
    let (one, two) = ([("Ana", "1", "7574"), ("Bo", "2", "1")], [("Cé", "3", "2")]);
    file.append(&mut pending(1, &one)).unwrap();
    file.append(&mut pending(2, &two)).unwrap();
    assert_eq!(ledger.position(1).unwrap(), 2);
    // Agency 2's END is written but not synced: its receipt stays open.
    ledger.record_end(1, 2).unwrap();
    ledger.sync_ends().unwrap();
    ledger.record_end(2, 1).unwrap();
    assert_eq!(ledger.tally.hashers_open(), 1, "only agency 2's");
    // A bet of agency 2 after its unsynced END, and one of agency 1 after its durable END
    // (which its sessions refuse; the receipt covers it all the same).
    let late = [("Di", "4", "7574")];
    file.append(&mut pending(2, &late)).unwrap();
    file.append(&mut pending(1, &late)).unwrap();
    let draw = ledger.draw(2).unwrap();
    let expected = |bets: &[(&str, &str, u16)]| {
        let mut receipt = ReceiptBuilder::new();
        for (name, doc, number) in bets {
            receipt.add(
                name.as_bytes(),
                b"Perez",
                doc.as_bytes(),
                b"1990-01-31",
                *number,
            );
        }
        let receipt = receipt.receipt();
        (receipt.count, receipt.digest.0)
    };
    let got = |agency| {
        let receipt = ledger.drawn_for(agency).unwrap().receipt;
        (receipt.count, receipt.digest)
    };
    assert_eq!(
        got(1),
        expected(&[("Ana", "1", 7574), ("Bo", "2", 1), ("Di", "4", 7574)])
    );
    assert_eq!(got(2), expected(&[("Cé", "3", 2), ("Di", "4", 7574)]));
    let winners = |agency| winners_of(&ledger, agency);
    assert_eq!(winners(1), ["1", "4"]);
    assert_eq!(winners(2), ["4"]);
    assert_eq!(draw.bets, 5);
}

#[test]
fn after_a_restart_the_ended_agencies_receipts_are_sealed_and_the_same() {
    let dir = TempDir::new("resealed");
    let commit = CommitState::new().unwrap();
    let bets = [("Ana", "1", "7574"), ("Bo", "2", "1")];
    let before = {
        let mut ledger = BetsLedger::open(&dir.bets(), &commit).unwrap();
        let mut file = BetsFile::open(&dir.bets(), &commit, SyncMode::Durable).unwrap();
        file.append(&mut pending(1, &bets)).unwrap();
        file.append(&mut pending(2, &bets[..1])).unwrap();
        assert_eq!(ledger.position(1).unwrap(), 2);
        ledger.record_end(1, 2).unwrap();
        ledger.sync_ends().unwrap();
        ledger.draw(2).unwrap();
        [ledger.drawn_for(1), ledger.drawn_for(2)]
    };
    let mut ledger = BetsLedger::open(&dir.bets(), &commit).unwrap();
    assert_eq!(
        ledger.tally.hashers_open(),
        1,
        "agency 1 ended: only agency 2's is open"
    );
    assert!(
        ledger.drawn_for(1).is_none(),
        "nothing is drawn before the draw"
    );
    ledger.draw(2).unwrap();
    assert_eq!([ledger.drawn_for(1), ledger.drawn_for(2)], before);
    assert!(ledger.drawn_for(3).is_none(), "not an agency of the draw");
}
