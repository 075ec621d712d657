//! Power loss, proven from the syscalls: the real server and clients run a short round under
//! `strace`, and `strace::check` verifies that every ACK left after an `fdatasync` covering the
//! acknowledged rows, and every END's ACK after its journal line was synced. With `SYNC=false`
//! the same check must fail, which shows it can. Where strace cannot run, the tests say so and pass.

mod common;
mod strace;

use std::process::Command;
use std::time::Duration;

use common::*;
use tp0::protocol::{ClientMessage, RawBet, ServerMessage};

/// Why strace cannot be used here, if it cannot.
fn strace_unusable() -> Option<String> {
    match Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .output()
    {
        Err(err) => Some(format!("no strace ({err})")),
        Ok(out) if !out.status.success() => Some(format!(
            "strace cannot trace here (no ptrace permission?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// Runs one round of 3 agencies under strace and checks the trace.
fn traced_round(tag: &str, sync: &str) -> strace::Report {
    let scratch = Scratch::new(tag);
    let data = generated(3, 120, tag);
    let trace = scratch.path("trace");
    let wrapper: Vec<String> = ["strace", "-f", "-tt", "-yy", "-xx", "-s", "1000000", "-e"]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("trace={}", strace::SYSCALLS), "-o".into()])
        .chain([trace.display().to_string()])
        .collect();
    let mut round = Round::start_wrapped(scratch, 3, &[("SYNC", sync)], &wrapper);
    // Small batches: several ACKs per agency, some grouped in one send.
    let clients = spawn_agencies(&round, &data, &[("CLI_BATCH_MAXAMOUNT", "25")]);
    assert_all_succeed(clients);
    assert_one_complete_draw(&round, &data);
    // The child of strace is the server: stop it, and strace ends with it.
    let (pid, _) = children_of(round.pid())
        .into_iter()
        .next()
        .expect("strace runs the server");
    send_signal(pid, Signal::SIGTERM);
    round
        .wait_exit(Duration::from_secs(20))
        .expect("the server and strace exit after SIGTERM");
    let text = std::fs::read_to_string(&trace).expect("strace wrote its trace");
    let bets = round.bets().display().to_string();
    let report = strace::check(&text, &bets);
    println!(
        "durability (SYNC={sync}): {} batch ACKs, {} END ACKs, {} syncs, {} violations, {} anomalies",
        report.acks,
        report.end_acks,
        report.syncs,
        report.violations.len(),
        report.anomalies.len()
    );
    assert!(report.anomalies.is_empty(), "{:#?}", report.anomalies);
    // 120 bets in batches of at most 25: at least 5 batch ACKs per agency, and 3 ENDs.
    assert!(report.acks >= 15, "{report:?}");
    assert_eq!(report.end_acks, 3, "{report:?}");
    report
}

#[test]
fn every_ack_and_end_leaves_after_the_fdatasync_that_covers_it() {
    if let Some(why) = strace_unusable() {
        println!("skipped: {why}");
        return;
    }
    let report = traced_round("strace-durable", "true");
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
}

#[test]
fn with_sync_off_the_checker_reports_acks_that_did_not_wait() {
    if let Some(why) = strace_unusable() {
        println!("skipped: {why}");
        return;
    }
    let report = traced_round("strace-relaxed", "false");
    assert!(
        report.violations.iter().any(|v| v.contains("ACK of")),
        "SYNC=false acknowledges from the page cache, yet no violation: {report:?}"
    );
}

/// A hand-written trace, for the rules no real server breaks: `lines` use `{B}` for the bets
/// file, `{E}` for the journal, `{D}` for their directory, `{S}` for the client's socket, and the
/// names of [`payloads`] for the bytes a call carries.
fn synthetic(lines: &[&str]) -> strace::Report {
    let payloads = payloads();
    let trace: String = lines
        .iter()
        .map(|line| {
            let mut line = line
                .replace("{D}", &format!("3<{}>", strace_hex(b"/d")))
                .replace("{B}", &format!("4<{}>", strace_hex(b"/d/bets.csv")))
                .replace("{E}", &format!("5<{}>", strace_hex(b"/d/bets.csv.ends")))
                .replace(
                    "{S}",
                    &format!("9<{}>", strace_hex(b"TCP:[1.1.1.1:1->2.2.2.2:2]")),
                );
            for (name, bytes) in &payloads {
                line = line.replace(name, &format!("\"{}\"", strace_hex(bytes)));
            }
            format!("{line}\n")
        })
        .collect();
    strace::check(&trace, "/d/bets.csv")
}

/// `bytes` as `strace -xx` prints them: every byte `\xHH`.
fn strace_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
}

/// What the calls of a hand-written trace carry, by placeholder: agency 7's frames from the
/// product's encoder (one BET, then END of 1), the server's ACK of position 1, and what the bet
/// and the END leave in the bets file and the journal. The lines give each one's length as the
/// call's return value: HELLO 9, BET 31, END 12, ACK 12, ROW 22, JOURNAL 4.
fn payloads() -> [(&'static str, Vec<u8>); 6] {
    let bet = RawBet {
        first_name: b"A",
        last_name: b"B",
        document: b"1",
        birthdate: b"2000-01-01",
        number: b"1",
    };
    [
        (
            "{HELLO}",
            frame_of(&ClientMessage::Hello {
                agency: 7,
                secret: b"",
            }),
        ),
        ("{BET}", frame_of(&ClientMessage::Bet { start: 0, bet })),
        ("{END}", frame_of(&ClientMessage::End { total: 1 })),
        ("{ACK}", frame_of(&ServerMessage::Ack { position: 1 })),
        ("{ROW}", b"7,A,B,1,2000-01-01,1\r\n".to_vec()),
        ("{JOURNAL}", b"7,1\n".to_vec()),
    ]
}

#[test]
fn the_synthetic_payloads_have_the_lengths_the_traces_give_them() {
    let lengths: Vec<(&str, usize)> = payloads()
        .iter()
        .map(|(name, bytes)| (*name, bytes.len()))
        .collect();
    assert_eq!(
        lengths,
        [
            ("{HELLO}", 9),
            ("{BET}", 31),
            ("{END}", 12),
            ("{ACK}", 12),
            ("{ROW}", 22),
            ("{JOURNAL}", 4)
        ]
    );
}

#[test]
fn the_checker_catches_an_end_acknowledged_before_its_journal_is_synced() {
    let mut lines = [
        // strace pads short pids.
        "20    00:00:00.000000 fsync({D}) = 0",
        "10 00:00:00.000001 recvfrom({S}, {HELLO}, 65536, 0, NULL, NULL) = 9",
        "10 00:00:00.000002 write({B}, {ROW}, 22) = 22",
        "10 00:00:00.000003 fdatasync({B}) = 0",
        "10 00:00:00.000004 recvfrom({S}, {END}, 65536, 0, NULL, NULL) = 12",
        "20 00:00:00.000005 write({E}, {JOURNAL}, 4) = 4",
        // The journal's sync is entered but has not returned when the ACK leaves.
        "20 00:00:00.000006 fdatasync({E} <unfinished ...>",
        "10 00:00:00.000007 sendto({S}, {ACK}, 12, MSG_NOSIGNAL, NULL, 0) = 12",
        "20 00:00:00.000008 <... fdatasync resumed>) = 0",
    ];
    let report = synthetic(&lines);
    assert_eq!(report.end_acks, 1, "{report:?}");
    assert_eq!(report.violations.len(), 1, "{report:?}");
    assert!(
        report.violations[0].contains("END of agency 7"),
        "{report:?}"
    );
    // The same events with the ACK after the sync returned: clean.
    lines.swap(7, 8);
    let report = synthetic(&lines);
    assert!(
        report.violations.is_empty() && report.anomalies.is_empty(),
        "{report:?}"
    );
}

#[test]
fn a_sync_by_another_process_covers_rows_written_before_it_began() {
    let lines = [
        "20 00:00:00.000000 fsync({D}) = 0",
        "10 00:00:00.000001 recvfrom({S}, {HELLO}, 65536, 0, NULL, NULL) = 9",
        "10 00:00:00.000002 recvfrom({S}, {BET}, 65536, 0, NULL, NULL) = 31",
        // A sibling's sync entered before our write does not cover it ...
        "30 00:00:00.000003 fdatasync({B} <unfinished ...>",
        "10 00:00:00.000004 write({B}, {ROW}, 22) = 22",
        "30 00:00:00.000005 <... fdatasync resumed>) = 0",
        "10 00:00:00.000006 sendto({S}, {ACK}, 12, MSG_NOSIGNAL, NULL, 0) = 12",
        // ... one entered after it does, whoever calls it.
        "30 00:00:00.000007 fdatasync({B}) = 0",
        "10 00:00:00.000008 sendto({S}, {ACK}, 12, MSG_NOSIGNAL, NULL, 0) = 12",
    ];
    let report = synthetic(&lines);
    assert_eq!(report.violations.len(), 1, "{report:?}");
    assert!(report.violations[0].contains("line 7"), "{report:?}");
    // The second ACK answers no request (one BET was read): the checker says so, not passes it.
    assert_eq!(report.anomalies.len(), 1, "{report:?}");
}

#[test]
fn the_checker_catches_an_ack_before_the_directory_is_synced() {
    let lines = [
        "10 00:00:00.000001 recvfrom({S}, {HELLO}, 65536, 0, NULL, NULL) = 9",
        "10 00:00:00.000002 recvfrom({S}, {END}, 65536, 0, NULL, NULL) = 12",
        "10 00:00:00.000003 write({B}, {ROW}, 22) = 22",
        "10 00:00:00.000004 fdatasync({B}) = 0",
        "20 00:00:00.000005 write({E}, {JOURNAL}, 4) = 4",
        "20 00:00:00.000006 fdatasync({E}) = 0",
        "10 00:00:00.000007 sendto({S}, {ACK}, 12, MSG_NOSIGNAL, NULL, 0) = 12",
    ];
    let report = synthetic(&lines);
    assert_eq!(report.violations.len(), 1, "{report:?}");
    assert!(report.violations[0].contains("directory"), "{report:?}");
}
