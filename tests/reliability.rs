//! Faults and hostile input: nothing acknowledged is lost or doubled, and nobody else is hurt.
//!
//! Each test prints one `reliability:` row (fault | injection | observed | lost); `docs/reliability.md`
//! is the table of those rows.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use tp0::protocol::{ErrorCode, Message, MAGIC};

fn evidence(fault: &str, injection: &str, observed: &str) {
    println!("reliability: | {fault} | {injection} | {observed} | nothing |");
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An honest agency uploads while hostile peers send every kind of bad input.
#[test]
fn hostile_bytes_get_error_replies_while_an_honest_agency_finishes() {
    let scratch = Scratch::new("hostile");
    let data = generated(2, 20_000, "hostile");
    let mut server = Server::start(&scratch.0, 2, &[]);
    let honest = spawn_client(&server.address(), 1, &data.file(1), &[]);

    let expect_error = |bytes: Vec<Vec<u8>>, code: ErrorCode, what: &str| {
        let mut raw = Raw::connect(server.port);
        for chunk in &bytes {
            raw.send_raw(chunk);
        }
        loop {
            match raw.recv() {
                Some(Reply::Error(got, text)) => {
                    assert_eq!(got, code, "{what}: {text}");
                    break;
                }
                Some(Reply::Welcome { .. }) | Some(Reply::Ack(_)) => continue,
                other => panic!("{what}: expected {code:?}, got {other:?}"),
            }
        }
        assert!(
            raw.closed(),
            "{what}: the connection closes after the error"
        );
    };
    let hello = |agency: u32| {
        let mut out = Vec::new();
        tp0::protocol::encode(
            &Message::Hello {
                agency,
                secret: b"",
            },
            &mut out,
        )
        .unwrap();
        out
    };
    let end = |total: u64| {
        let mut out = Vec::new();
        tp0::protocol::encode(&Message::End { total }, &mut out).unwrap();
        out
    };
    expect_error(
        vec![vec![MAGIC, 0x02, 0xFF, 0xFF]],
        ErrorCode::Malformed,
        "oversized length",
    );
    expect_error(
        vec![vec![MAGIC, 0x42, 0, 0]],
        ErrorCode::Malformed,
        "unknown kind",
    );
    expect_error(
        vec![vec![MAGIC, 0x01, 0, 3, 0, 0, 0]],
        ErrorCode::Malformed,
        "truncated hello",
    );
    expect_error(vec![hello(99)], ErrorCode::BadAgency, "agency out of range");
    expect_error(vec![hello(0)], ErrorCode::BadAgency, "agency zero");
    expect_error(
        vec![batch(0, 1, 1, "1")],
        ErrorCode::BadAgency,
        "bets before hello",
    );
    let mut bad_date = batch(0, 1, 1, "1");
    let at = bad_date
        .windows(10)
        .position(|w| w == b"2000-01-01")
        .unwrap();
    bad_date[at + 5..at + 7].copy_from_slice(b"13");
    expect_error(vec![hello(2), bad_date], ErrorCode::InvalidBet, "bad date");
    expect_error(
        vec![hello(2), batch(0, 1, 1, "10000")],
        ErrorCode::InvalidBet,
        "number out of range",
    );
    let mut bad_utf8 = batch(0, 1, 1, "1");
    let at = bad_utf8.windows(3).position(|w| w == b"Ana").unwrap();
    bad_utf8[at] = 0xC3;
    bad_utf8[at + 1] = 0x28;
    expect_error(
        vec![hello(2), bad_utf8],
        ErrorCode::InvalidBet,
        "invalid UTF-8",
    );
    expect_error(
        vec![hello(2), batch(5, 1, 1, "1")],
        ErrorCode::PositionMismatch,
        "batch from the future",
    );
    let mut wrong_count = batch(0, 2, 1, "1");
    wrong_count[13] = 3;
    expect_error(
        vec![hello(2), wrong_count],
        ErrorCode::Malformed,
        "wrong field count",
    );
    expect_error(
        vec![hello(2), end(7)],
        ErrorCode::CountMismatch,
        "END with a wrong total",
    );
    // Random garbage after a valid HELLO.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..50 {
        let mut garbage = vec![MAGIC];
        for _ in 0..64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            garbage.push(seed as u8);
        }
        let mut raw = Raw::connect(server.port);
        raw.send_raw(&hello(2));
        raw.send_raw(&garbage);
        while let Some(reply) = raw.recv() {
            if matches!(reply, Reply::Error(..)) {
                break;
            }
        }
    }
    // Agency 2 sends nothing valid; the honest agency 1 must still finish once 2 ends.
    let mut two = Raw::connect(server.port);
    two.send_raw(&hello(2));
    assert_eq!(
        two.recv(),
        Some(Reply::Welcome {
            position: 0,
            ended: false
        })
    );
    two.send_raw(&end(0));
    assert_eq!(two.recv(), Some(Reply::Ack(0)));
    // Bets after END are refused, and nothing of them is stored.
    two.send_raw(&batch(0, 1, 1, "1"));
    assert!(matches!(
        two.recv(),
        Some(Reply::Error(ErrorCode::AlreadyEnded, _))
    ));
    let output = honest.wait_with_output();
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{log}");
    assert_eq!(
        logged_value(&log, "consulta_ganadores", "cant_ganadores"),
        Some(data.winners[0].to_string())
    );
    let stored = std::fs::read(scratch.path("bets.csv")).unwrap();
    assert_eq!(
        stored,
        std::fs::read(data.file(1))
            .unwrap()
            .split_inclusive(|&b| b == b'\n')
            .flat_map(|row| [b"1,".as_slice(), row].concat())
            .collect::<Vec<u8>>()
    );
    assert!(server.terminate().success());
    evidence("malformed, oversized, truncated frames; bad agency, date, number, UTF-8, counts; garbage; bets after END", "raw sockets beside an honest agency", "an ERROR with the right code, that connection closed, the honest agency stored byte-identical with its winners");
}

#[test]
fn a_second_connection_for_a_busy_agency_is_refused_and_the_limit_answers_busy() {
    let scratch = Scratch::new("busy");
    let server = Server::start(&scratch.0, 3, &[("MAX_SESSIONS", "2")]);
    let mut first = Raw::new_agency(server.port, 1);
    let mut second = Raw::connect(server.port);
    second.send(&Message::Hello {
        agency: 1,
        secret: b"",
    });
    assert!(matches!(
        second.recv(),
        Some(Reply::Error(ErrorCode::AgencyBusy, _))
    ));
    // Two sessions alive (first, and a silent one): the third connection is answered busy.
    let _silent = Raw::connect(server.port);
    wait_for("second session to end", Duration::from_secs(5), || {
        children_of(server.pid()).len() == 3
    });
    let mut third = Raw::connect(server.port);
    assert!(matches!(
        third.recv(),
        Some(Reply::Error(ErrorCode::ServerBusy, _))
    ));
    // The first session is unaffected.
    first.send_raw(&batch(0, 2, 1, "1"));
    assert_eq!(first.recv(), Some(Reply::Ack(2)));
    evidence(
        "second connection for an agency; connections past MAX_SESSIONS",
        "raw sockets",
        "AgencyBusy and ServerBusy errors; the holding session keeps storing",
    );
}

#[test]
fn an_idle_upload_is_cut_but_waiting_for_the_draw_is_not() {
    let scratch = Scratch::new("idle");
    let server = Server::start(&scratch.0, 2, &[("IDLE_TIMEOUT", "1s")]);
    let mut idle = Raw::new_agency(server.port, 1);
    let started = Instant::now();
    assert!(matches!(
        idle.recv(),
        Some(Reply::Error(ErrorCode::Timeout, _))
    ));
    assert!(started.elapsed() >= Duration::from_millis(900));
    // Agency 1 again: END, then wait well past the idle timeout for the draw.
    let mut waiting = Raw::connect(server.port);
    waiting.send(&Message::Hello {
        agency: 1,
        secret: b"",
    });
    assert!(matches!(waiting.recv(), Some(Reply::Welcome { .. })));
    waiting.send(&Message::End { total: 0 });
    assert_eq!(waiting.recv(), Some(Reply::Ack(0)));
    waiting.send(&Message::Winners);
    std::thread::sleep(Duration::from_millis(2500));
    let mut other = Raw::connect(server.port);
    other.send(&Message::Hello {
        agency: 2,
        secret: b"",
    });
    assert!(matches!(other.recv(), Some(Reply::Welcome { .. })));
    other.send(&Message::End { total: 0 });
    assert_eq!(other.recv(), Some(Reply::Ack(0)));
    assert_eq!(
        waiting.recv(),
        Some(Reply::Winners {
            total: 0,
            documents: vec![]
        })
    );
    evidence(
        "idle connection; long wait for the draw",
        "silent socket with IDLE_TIMEOUT=1s",
        "Timeout error after 1s; the waiting agency still got its winners after 2.5s",
    );
}

#[test]
fn with_secrets_an_agency_cannot_act_as_another() {
    let scratch = Scratch::new("secrets");
    std::fs::write(scratch.path("secrets"), "1=uno-secreto\n2=dos-secreto\n").unwrap();
    let secrets = scratch.path("secrets");
    let server = Server::start(
        &scratch.0,
        2,
        &[("SECRETS_FILE", secrets.to_str().unwrap())],
    );
    for secret in [b"".as_slice(), b"dos-secreto", b"uno-secret"] {
        let mut raw = Raw::connect(server.port);
        raw.send(&Message::Hello { agency: 1, secret });
        assert!(matches!(
            raw.recv(),
            Some(Reply::Error(ErrorCode::Unauthorized, _))
        ));
    }
    assert!(server.count_in_log("action: authenticate | result: fail") >= 3);
    let data = generated(2, 500, "secrets");
    std::fs::write(scratch.path("one.secret"), "uno-secreto\n").unwrap();
    std::fs::write(scratch.path("two.secret"), "dos-secreto").unwrap();
    let one = spawn_client(
        &server.address(),
        1,
        &data.file(1),
        &[(
            "CLI_SECRET_FILE",
            scratch.path("one.secret").to_str().unwrap(),
        )],
    );
    let (status, log) = run_client(
        &server.address(),
        2,
        &data.file(2),
        &[(
            "CLI_SECRET_FILE",
            scratch.path("two.secret").to_str().unwrap(),
        )],
    );
    assert!(status.success(), "{log}");
    assert!(one.wait_with_output().status.success());
    // A client with the wrong secret gives up at once with a clear error.
    let (status, log) = run_client(
        &server.address(),
        1,
        &data.file(1),
        &[(
            "CLI_SECRET_FILE",
            scratch.path("two.secret").to_str().unwrap(),
        )],
    );
    assert_eq!(status.code(), Some(1));
    assert!(log.contains("Unauthorized"), "{log}");
    evidence(
        "an agency using another's identity",
        "HELLO with no, another's, and a near-miss secret",
        "Unauthorized, logged; right secrets upload normally",
    );
}

#[test]
fn names_with_commas_quotes_accents_and_line_breaks_round_trip() {
    let scratch = Scratch::new("names");
    let server = Server::start(&scratch.0, 1, &[]);
    let names = [
        "O'Brien, Jr.",
        "Ana \"La Negra\"",
        "Ñandú Pérez",
        "Línea\nquebrada",
        "Tab\there",
    ];
    let mut csv = String::new();
    for (i, name) in names.iter().enumerate() {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        csv.push_str(&format!(
            "{quoted},Apellido,{},1990-05-0{},7574\r\n",
            1000 + i,
            i + 1
        ));
    }
    std::fs::write(scratch.path("agency.csv"), &csv).unwrap();
    let (status, log) = run_client(&server.address(), 1, &scratch.path("agency.csv"), &[]);
    assert!(status.success(), "{log}");
    assert_eq!(
        logged_value(&log, "consulta_ganadores", "cant_ganadores"),
        Some("5".into())
    );
    let stored = std::fs::read(scratch.path("bets.csv")).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&stored[..]);
    let read: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[1].to_string())
        .collect();
    assert_eq!(read, names);
    evidence(
        "names with commas, quotes, accents, line breaks",
        "a client file of such names",
        "stored quoted, read back byte-identical",
    );
}

/// Resume after the whole server tree is SIGKILLed at random moments, 20 times over the dataset.
#[test]
fn kill_9_restart_loop_loses_and_doubles_nothing() {
    let scratch = Scratch::new("kill9");
    let data = dataset();
    let cycles: u32 = std::env::var("TP0_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut kills_mid_upload = 0;
    for cycle in 0..cycles {
        let _ = std::fs::remove_file(scratch.path("bets.csv"));
        let _ = std::fs::remove_file(scratch.path("bets.csv.ends"));
        let _ = std::fs::remove_file(scratch.path("server.log"));
        let mut server = Server::start(&scratch.0, data.agencies, &[]);
        let port = server.port;
        let clients = spawn_agencies(
            &server,
            &data,
            &[("CLI_BATCH_MAXAMOUNT", "20"), ("CLI_BATCH_WINDOW", "4")],
        );
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(rng % 60_000));
        let before = std::fs::metadata(scratch.path("bets.csv")).map_or(0, |m| m.len());
        server.kill_tree();
        if server.count_in_log("action: sorteo") == 0 {
            kills_mid_upload += 1;
        }
        let restarted = Server::start_on(&scratch.0, port, data.agencies, &[]);
        for (index, child) in clients.into_iter().enumerate() {
            let output = child.wait_with_output();
            let log = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "cycle {cycle}, client {}: {log}",
                index + 1
            );
            assert_eq!(
                logged_value(&log, "consulta_ganadores", "cant_ganadores"),
                Some(data.winners[index].to_string()),
                "cycle {cycle}, client {}",
                index + 1
            );
        }
        assert_stored_exactly_once(&scratch.path("bets.csv"), &data);
        assert!(std::fs::metadata(scratch.path("bets.csv")).unwrap().len() >= before);
        drop(restarted);
    }
    assert!(
        kills_mid_upload > cycles / 2,
        "most kills should land mid-upload ({kills_mid_upload}/{cycles})"
    );
    evidence(
        &format!("SIGKILL of the whole server tree ({cycles} cycles, {kills_mid_upload} mid-upload)"),
        "kill -9 of parent, coordinator and sessions at a random moment, then restart on the same port",
        "clients reconnect and resume; every cycle ends with each row once and the expected winners",
    );
}

#[test]
fn a_client_killed_mid_upload_and_restarted_finishes_without_duplicates() {
    let scratch = Scratch::new("clientkill");
    let data = generated(2, 40_000, "clientkill");
    let mut server = Server::start(&scratch.0, 2, &[]);
    let other = spawn_client(&server.address(), 2, &data.file(2), &[]);
    let mut victim = spawn_client(
        &server.address(),
        1,
        &data.file(1),
        &[("CLI_BATCH_MAXAMOUNT", "10"), ("CLI_BATCH_WINDOW", "2")],
    );
    server.wait_for_batches(20);
    victim.kill().unwrap();
    let _ = victim.wait();
    let (status, log) = run_client(&server.address(), 1, &data.file(1), &[]);
    assert!(status.success(), "{log}");
    assert!(other.wait_with_output().status.success());
    assert_one_complete_draw(&server, &data);
    assert!(server.terminate().success());
    evidence("a client killed mid-batch and started again", "SIGKILL of the client process", "the restart resumes at the server's position: no duplicates; the other agency unaffected; one draw");
}

#[test]
fn a_crashed_coordinator_is_restarted_from_disk_and_clients_resume() {
    let scratch = Scratch::new("coordcrash");
    let data = generated(2, 30_000, "coordcrash");
    let mut server = Server::start(&scratch.0, 2, &[]);
    let clients = spawn_agencies(&server, &data, &[("CLI_BATCH_MAXAMOUNT", "20")]);
    server.wait_for_batches(10);
    let coordinator = server.coordinator_pid();
    // SAFETY: kill(2) on the coordinator pid the server logged.
    unsafe { libc::kill(coordinator, libc::SIGKILL) };
    assert_all_succeed(clients);
    assert!(
        server.count_in_log("action: coordinator_exit | result: fail") == 1,
        "{}",
        server.logs()
    );
    assert_one_complete_draw(&server, &data);
    assert!(server.terminate().success());
    evidence("the coordinator process dies", "SIGKILL of the coordinator mid-upload", "the parent logs it, ends the sessions, starts a new coordinator from disk; clients resume; one draw");
}

#[test]
fn a_restarted_server_with_every_end_answers_winners_without_uploads() {
    let scratch = Scratch::new("ends");
    let data = generated(2, 3_000, "ends");
    let mut server = Server::start(&scratch.0, 2, &[]);
    let first = spawn_client(&server.address(), 1, &data.file(1), &[]);
    let (status, log) = run_client(&server.address(), 2, &data.file(2), &[]);
    assert!(status.success(), "{log}");
    assert!(first.wait_with_output().status.success());
    assert!(server.terminate().success());
    let mut again = Server::start(&scratch.0, 2, &[]);
    // server.log holds both runs: the first run's draw and the restarted run's draw from disk.
    assert_eq!(
        again.count_in_log("action: sorteo | result: success"),
        2,
        "each run draws once"
    );
    for id in 1..=2 {
        let (status, log) = run_client(&again.address(), id, &data.file(id), &[]);
        assert!(status.success(), "{log}");
        assert_eq!(
            logged_value(&log, "consulta_ganadores", "cant_ganadores"),
            Some(data.winners[id as usize - 1].to_string())
        );
        assert!(
            !log.contains("apuesta_enviada"),
            "nothing is uploaded again"
        );
    }
    assert_stored_exactly_once(&scratch.path("bets.csv"), &data);
    assert!(again.terminate().success());
    evidence(
        "server restart after every END",
        "SIGTERM, start again, clients run again",
        "the new run draws once from disk; same winners; nothing re-uploaded",
    );
}

#[test]
fn an_echo_line_longer_than_8_kib_is_refused_without_harm() {
    let scratch = Scratch::new("longline");
    let server = Server::start(&scratch.0, 1, &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(&vec![b'a'; 20_000]);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    assert!(reply.is_empty());
    assert_eq!(server.count_in_log("line longer than 8192 bytes"), 1);
    evidence(
        "an echo line over 8 kB",
        "20,000 bytes without a newline",
        "closed without a reply, logged",
    );
}

#[test]
fn a_killed_session_child_is_logged_and_its_agency_resumes() {
    let scratch = Scratch::new("sessionkill");
    let data = generated(2, 40_000, "sessionkill");
    let mut server = Server::start(&scratch.0, 2, &[]);
    let clients = spawn_agencies(
        &server,
        &data,
        &[("CLI_BATCH_MAXAMOUNT", "20"), ("CLI_BATCH_WINDOW", "2")],
    );
    server.wait_for_batches(20);
    let coordinator = server.coordinator_pid();
    let session = children_of(server.pid())
        .into_iter()
        .map(|(pid, _)| pid)
        .find(|pid| *pid != coordinator)
        .expect("a session child");
    // SAFETY: kill(2) on one of the server's session children.
    unsafe { libc::kill(session, libc::SIGKILL) };
    assert_all_succeed(clients);
    assert_eq!(
        server.count_in_log("action: session_exit | result: fail"),
        1,
        "{}",
        server.logs()
    );
    assert_one_complete_draw(&server, &data);
    assert!(server.terminate().success());
    evidence("a session child dies", "SIGKILL of one session process mid-upload", "the parent logs the crash; the agency reconnects (the dead claim lapses) and resumes; one draw");
}

#[test]
fn a_killed_parent_takes_its_children_with_it_and_a_second_server_is_refused() {
    let scratch = Scratch::new("orphans");
    let data = generated(3, 60_000, "orphans");
    let mut server = Server::start(&scratch.0, 3, &[("SHUTDOWN_GRACE", "1s")]);
    let port = server.port;
    let clients = spawn_agencies(
        &server,
        &data,
        &[("CLI_BATCH_MAXAMOUNT", "20"), ("CLI_BATCH_WINDOW", "2")],
    );
    server.wait_for_batches(20);
    // SIGKILL of the parent alone: no child may live on with its commit page.
    let children = descendants(server.pid());
    assert!(children.len() >= 2);
    server.signal(libc::SIGKILL);
    let _ = server.wait_exit(Duration::from_secs(5));
    wait_for(
        "children to die with their parent",
        Duration::from_secs(5),
        || children.iter().all(|pid| !is_running(*pid)),
    );
    let restarted = Server::start_on(&scratch.0, port, 3, &[]);
    // A second server on the same bets file refuses while the restarted one lives.
    let other = Scratch::new("orphans-other");
    let out = std::process::Command::new(SERVER)
        .current_dir(&other.0)
        .env("SERVER_PORT", "0")
        .env("SHUTDOWN_GRACE", "1s")
        .env("BETS_FILE", scratch.path("bets.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("another server instance"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_all_succeed(clients);
    assert_stored_exactly_once(&scratch.path("bets.csv"), &data);
    drop(restarted);
    evidence("the parent dies alone (OOM killer); a second server on the same file", "SIGKILL of the parent only; a second server started on the same BETS_FILE", "children die with the parent (PR_SET_PDEATHSIG), the second server refuses with a clear error, a restart resumes exactly once");
}
