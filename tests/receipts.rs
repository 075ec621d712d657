//! Receipts end to end: every agency learns whether the draw read exactly its file's bets, the
//! draw publishes the digest of what it read, and `recount` checks a copy of the bets file.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use common::*;
use tp0::client::BetSource;
use tp0::protocol::BatchBuilder;

const RECOUNT: &str = env!("CARGO_BIN_EXE_recount");

/// Runs `recount` on `file`, with `--expect` when given.
fn recount(file: &Path, expect: Option<&str>) -> (ExitStatus, String) {
    let mut command = Command::new(RECOUNT);
    if let Some(digest) = expect {
        command.arg("--expect").arg(digest);
    }
    let out = command.arg(file).output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The recount's `(cantidad, digest)` per agency.
fn recounted(out: &str) -> BTreeMap<u32, (String, String)> {
    out.lines()
        .filter(|line| line.contains("action: recuento_agencia | result: success"))
        .map(|line| {
            let value = |key| logged_value(line, "recuento_agencia", key).unwrap();
            (
                value("agency").parse().unwrap(),
                (value("cantidad"), value("digest")),
            )
        })
        .collect()
}

/// The client's own `(cantidad, digest)` from its `verificacion` line.
fn verified(log: &str) -> (String, String) {
    let value = |key| logged_value(log, "action: verificacion", key).unwrap();
    (value("cantidad"), value("digest"))
}

/// The digest the draw published in its `sorteo` line.
fn sorteo_digest(server: &Server) -> String {
    logged_value(&server.logs(), "action: sorteo | result: success", "digest")
        .expect("the sorteo line carries the digest")
}

/// Asserts every client verified its receipt, and that the recount of the bets file finds each
/// agency's count and digest as its client did and the file's digest as the draw published it.
fn assert_receipts_match(server: &Server, logs: &[String]) {
    let bets = server.dir.join("bets.csv");
    let published = sorteo_digest(server);
    let (status, out) = recount(&bets, Some(&published));
    assert!(status.success(), "{out}");
    assert!(
        out.contains("action: verificar_sorteo | result: success"),
        "{out}"
    );
    let recounted = recounted(&out);
    for (index, log) in logs.iter().enumerate() {
        let agency = index as u32 + 1;
        assert!(
            log.contains("action: verificacion | result: success"),
            "client {agency}: {log}"
        );
        assert_eq!(
            recounted.get(&agency),
            Some(&verified(log)),
            "agency {agency}"
        );
    }
}

/// Agency `agency`'s first `count` bets of `file`, sent over the raw protocol in batches built
/// exactly as the client builds them; returns once the server acknowledged them all.
fn upload_first_rows(port: u16, agency: u32, file: &Path, count: u64) {
    let mut raw = Raw::new_agency(port, agency);
    let mut source = BetSource::start(file).unwrap();
    let mut batch = BatchBuilder::new(50);
    let mut sent = 0u64;
    let mut flush = |batch: &mut BatchBuilder, sent: &mut u64| {
        *sent += batch.len() as u64;
        raw.send_raw(batch.frame().unwrap());
        assert_eq!(raw.recv(), Some(Reply::Ack(*sent)));
        batch.reset(*sent);
    };
    for _ in 0..count {
        let bet = source.next_checked().unwrap().unwrap();
        if !batch.push(&bet.raw()).unwrap() {
            flush(&mut batch, &mut sent);
            assert!(batch.push(&bet.raw()).unwrap());
        }
    }
    flush(&mut batch, &mut sent);
}

#[test]
fn a_byte_altered_on_disk_before_the_draw_fails_only_that_agencys_verification() {
    let scratch = Scratch::new("receipt-fault");
    let data = generated(2, 400, "receipt-fault");
    let mut server = Server::start(&scratch.0, 2, &[]);
    let stored = 150;
    upload_first_rows(server.port, 1, &data.file(1), stored);
    // A storage fault: one letter of a first name of agency 1, so the row is still a valid bet.
    // The coordinator last read the file at agency 1's HELLO, before these rows existed.
    let bets = scratch.path("bets.csv");
    let bytes = std::fs::read(&bets).unwrap();
    let at = bytes
        .windows(2)
        .position(|pair| pair == b"1,")
        .expect("agency 1 has rows")
        + 2;
    assert!(bytes[at].is_ascii_alphabetic(), "a first name starts there");
    let altered = if bytes[at] == b'Q' { b'X' } else { b'Q' };
    let file = std::fs::OpenOptions::new().write(true).open(&bets).unwrap();
    file.write_all_at(&[altered], at as u64).unwrap();
    drop(file);
    // The real clients: agency 1 resumes after the stored rows (hashing them from its own file).
    let clients = spawn_agencies(&server, &data, &[]);
    let logs: Vec<(ExitStatus, String)> = clients
        .into_iter()
        .map(|client| {
            let output = client.wait_with_output();
            let log = String::from_utf8_lossy(&output.stdout).into_owned();
            (output.status, log)
        })
        .collect();
    let (one, two) = (&logs[0], &logs[1]);
    assert!(
        !one.0.success(),
        "the altered agency's client fails: {}",
        one.1
    );
    assert!(
        one.1
            .contains("action: verificacion | result: fail | cantidad: 400 | digest: "),
        "{}",
        one.1
    );
    assert!(
        one.1.contains("| central_cantidad: 400 | central_digest: "),
        "{}",
        one.1
    );
    assert!(
        !one.1.contains("consulta_ganadores | result: success"),
        "no winners are trusted from a central that read other bets: {}",
        one.1
    );
    assert!(two.0.success(), "{}", two.1);
    assert!(
        two.1.contains("action: verificacion | result: success"),
        "{}",
        two.1
    );
    assert!(
        server
            .logs()
            .contains(&format!("agency: 1 | position: {stored} |")),
        "agency 1 resumed after the stored rows: {}",
        server.logs()
    );
    // The recount sees the file as the draw did: the published digest, agency 1's receipt as the
    // central told it (not as its client computed it), agency 2's as its client did.
    let published = sorteo_digest(&server);
    let (status, out) = recount(&bets, Some(&published));
    assert!(status.success(), "{out}");
    let recounted = recounted(&out);
    let central = logged_value(&one.1, "verificacion", "central_digest").unwrap();
    assert_eq!(recounted[&1], ("400".to_string(), central));
    assert_ne!(recounted[&1], verified(&one.1));
    assert_eq!(recounted[&2], verified(&two.1));
    assert!(server.terminate().success());
}

#[test]
fn a_recount_of_a_file_changed_after_the_draw_says_so_and_fails() {
    let scratch = Scratch::new("receipt-after");
    let data = generated(2, 300, "receipt-after");
    let mut server = Server::start(&scratch.0, 2, &[]);
    let logs: Vec<String> = spawn_agencies(&server, &data, &[])
        .into_iter()
        .map(|client| {
            let output = client.wait_with_output();
            let log = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(output.status.success(), "{log}");
            log
        })
        .collect();
    assert_receipts_match(&server, &logs);
    assert!(server.terminate().success());
    let published = sorteo_digest(&server);
    let bets = scratch.path("bets.csv");
    // A copy changed by one byte, the last digit of the last bet's number: still a bet, no
    // longer the drawn file.
    let mut bytes = std::fs::read(&bets).unwrap();
    assert!(bytes.ends_with(b"\r\n"));
    let last_digit = bytes.len() - 3;
    assert!(bytes[last_digit].is_ascii_digit());
    bytes[last_digit] = if bytes[last_digit] == b'1' {
        b'2'
    } else {
        b'1'
    };
    let copy = scratch.path("copy.csv");
    std::fs::write(&copy, &bytes).unwrap();
    let (status, out) = recount(&copy, Some(&published));
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "action: verificar_sorteo | result: fail | file: {} | digest: ",
            copy.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("| sorteo_digest: {published}")),
        "{out}"
    );
    // Without --expect it only reports, and succeeds.
    let (status, out) = recount(&copy, None);
    assert!(status.success(), "{out}");
    assert!(!out.contains(&published), "{out}");
    // A bad digest is a usage error.
    let (status, _) = recount(&copy, Some("abc"));
    assert_eq!(status.code(), Some(2));
}

#[test]
fn receipts_match_across_a_killed_client_and_a_killed_coordinator() {
    let scratch = Scratch::new("receipt-kill");
    let data = generated(2, 30_000, "receipt-kill");
    let mut server = Server::start(&scratch.0, 2, &[]);
    let other = spawn_client(
        &server.address(),
        2,
        &data.file(2),
        &[("CLI_BATCH_MAXAMOUNT", "20")],
    );
    let mut victim = spawn_client(
        &server.address(),
        1,
        &data.file(1),
        &[("CLI_BATCH_MAXAMOUNT", "10"), ("CLI_BATCH_WINDOW", "2")],
    );
    server.wait_for_batches(20);
    victim.kill().unwrap();
    let _ = victim.wait();
    // The new coordinator reads the file again from the start: receipts and digest are rebuilt.
    send_signal(server.coordinator_pid(), Signal::SIGKILL);
    wait_for("a new coordinator", Duration::from_secs(10), || {
        server.count_in_log("action: start_coordinator | result: success") >= 2
    });
    let (status, one) = run_client(&server.address(), 1, &data.file(1), &[]);
    assert!(status.success(), "{one}");
    let two = other.wait_with_output();
    let two = String::from_utf8_lossy(&two.stdout).into_owned();
    assert_one_complete_draw(&server, &data);
    assert_receipts_match(&server, &[one, two]);
    assert!(server.terminate().success());
}

#[test]
fn every_agency_of_the_course_dataset_verifies_its_receipt() {
    let scratch = Scratch::new("receipt-course");
    let data = dataset();
    let mut server = Server::start(&scratch.0, data.agencies, &[]);
    let logs: Vec<String> = spawn_agencies(&server, &data, &[])
        .into_iter()
        .enumerate()
        .map(|(index, client)| finished_with_winners(client, data.winners[index], "client"))
        .collect();
    assert_one_complete_draw(&server, &data);
    let apuestas = logged_value(
        &server.logs(),
        "action: sorteo | result: success",
        "apuestas",
    );
    assert_eq!(apuestas, Some(data.rows.to_string()));
    assert_receipts_match(&server, &logs);
    assert!(server.terminate().success());
}
