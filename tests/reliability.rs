//! Faults and hostile input: nothing acknowledged is lost or doubled, and nobody else is hurt.
//!
//! Each test prints one `reliability:` row (fault | injection | observed | lost); `docs/reliability.md`
//! is the table of those rows.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use tp0::protocol::{ClientMessage, ErrorCode, MAGIC};

fn evidence(fault: &str, injection: &str, observed: &str) {
    println!("reliability: | {fault} | {injection} | {observed} | nothing |");
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
            &ClientMessage::Hello {
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
        tp0::protocol::encode(&ClientMessage::End { total }, &mut out).unwrap();
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
fn a_second_connection_for_a_busy_agency_is_refused_and_anonymous_peers_give_way() {
    let scratch = Scratch::new("busy");
    let server = Server::start(&scratch.0, 3, &[("MAX_SESSIONS", "2")]);
    let mut first = Raw::new_agency(server.port, 1);
    let mut second = Raw::connect(server.port);
    second.send(&ClientMessage::Hello {
        agency: 1,
        secret: b"",
    });
    assert!(matches!(
        second.recv(),
        Some(Reply::Error(ErrorCode::AgencyBusy, _))
    ));
    // Two silent peers fill MAX_SESSIONS=2; the identified agency does not count.
    let mut oldest = Raw::connect(server.port);
    wait_for("the refused session to end", Duration::from_secs(5), || {
        children_of(server.pid()).len() == 3
    });
    let _younger = Raw::connect(server.port);
    wait_for("both silent sessions", Duration::from_secs(5), || {
        children_of(server.pid()).len() == 4
    });
    // A third anonymous peer gets in; the silent one connected longest gives way (once it has
    // been anonymous long enough not to be an agency whose HELLO is on its way).
    std::thread::sleep(Duration::from_millis(5100));
    let _newcomer = Raw::connect(server.port);
    oldest
        .stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(oldest.closed(), "the oldest anonymous peer was evicted");
    wait_for("the eviction's log line", Duration::from_secs(5), || {
        server.count_in_log("action: evict_session | result: success") >= 1
    });
    assert_eq!(
        server.count_in_log("action: evict_session | result: success"),
        1,
        "one eviction: the younger silent peer and the agency stay"
    );
    // The agency's session is unaffected.
    first.send_raw(&batch(0, 2, 1, "1"));
    assert_eq!(first.recv(), Some(Reply::Ack(2)));
    evidence(
        "second connection for an agency; anonymous connections past MAX_SESSIONS",
        "raw sockets",
        "AgencyBusy for the second; past MAX_SESSIONS the oldest anonymous peer (5 s or older) is evicted for a newcomer; the identified agency keeps storing",
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
    waiting.send(&ClientMessage::Hello {
        agency: 1,
        secret: b"",
    });
    assert!(matches!(waiting.recv(), Some(Reply::Welcome { .. })));
    waiting.send(&ClientMessage::End { total: 0 });
    assert_eq!(waiting.recv(), Some(Reply::Ack(0)));
    waiting.send(&ClientMessage::Winners);
    std::thread::sleep(Duration::from_millis(2500));
    let mut other = Raw::connect(server.port);
    other.send(&ClientMessage::Hello {
        agency: 2,
        secret: b"",
    });
    assert!(matches!(other.recv(), Some(Reply::Welcome { .. })));
    other.send(&ClientMessage::End { total: 0 });
    assert_eq!(other.recv(), Some(Reply::Ack(0)));
    assert!(matches!(
        waiting.recv(),
        Some(Reply::Receipt { count: 0, .. })
    ));
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
        raw.send(&ClientMessage::Hello { agency: 1, secret });
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
    send_signal(coordinator, Signal::SIGKILL);
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
    // The coordinator starts after the listener: wait for it to have read the disk.
    wait_for("the restarted coordinator", Duration::from_secs(10), || {
        again.count_in_log("action: start_coordinator | result: success | agencies") == 2
    });
    // server.log holds both runs: the first run's draw, and the restarted run's recovery of it.
    assert_eq!(
        again.count_in_log("action: sorteo | result: success"),
        1,
        "one draw per round, however many runs"
    );
    assert_eq!(
        again.count_in_log("action: recover_draw | result: success"),
        1,
        "the restarted run recovers the draw from disk"
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
        "the new run recovers the draw from disk (recover_draw, no second sorteo); same winners; nothing re-uploaded",
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
    send_signal(session, Signal::SIGKILL);
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
    server.signal(Signal::SIGKILL);
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

#[test]
fn a_client_killed_while_waiting_for_the_draw_comes_back_and_waits_again() {
    let scratch = Scratch::new("waitkill");
    let data = generated(2, 500, "waitkill");
    let mut server = Server::start(&scratch.0, 2, &[]);
    let mut victim = spawn_client(&server.address(), 1, &data.file(1), &[]);
    wait_for("agency 1's END", Duration::from_secs(20), || {
        server.count_in_log("action: end_agency | result: success | agency: 1") == 1
    });
    std::thread::sleep(Duration::from_millis(300));
    victim.kill().unwrap();
    let _ = victim.wait();
    // A short retry window: an agency locked out by its dead session would give up within it.
    let back = spawn_client(
        &server.address(),
        1,
        &data.file(1),
        &[("CLI_RETRY_TIMEOUT", "3s")],
    );
    std::thread::sleep(Duration::from_secs(4));
    let (status, log) = run_client(&server.address(), 2, &data.file(2), &[]);
    assert!(status.success(), "{log}");
    let log = finished_with_winners(back, data.winners[0], "the restarted agency waited");
    assert!(
        !log.contains("apuesta_enviada"),
        "nothing re-uploaded: {log}"
    );
    assert_one_complete_draw(&server, &data);
    assert!(server.terminate().success());
    evidence(
        "an agency's client dies while it waits for the draw",
        "SIGKILL of the client after its END, restart with a 3 s retry window, draw 4 s later",
        "the waiting session sees the close and gives up the claim; the restarted client waits and gets its winners",
    );
}

/// A connection with a tiny receive buffer, so a peer that never reads blocks the server soon.
fn stingy_connection(port: u16) -> TcpStream {
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .unwrap();
    socket::setsockopt(&fd, sockopt::RcvBuf, &2048).unwrap();
    let addr = SockaddrIn::from(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        port,
    ));
    socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).unwrap();
    TcpStream::from(fd)
}

#[test]
fn a_peer_that_stops_reading_loses_its_agency_after_the_idle_timeout() {
    let scratch = Scratch::new("noread");
    let server = Server::start(&scratch.0, 1, &[("IDLE_TIMEOUT", "1s"), ("SYNC", "false")]);
    let mut raw = Raw::from_stream(stingy_connection(server.port));
    raw.send(&ClientMessage::Hello {
        agency: 1,
        secret: b"",
    });
    assert!(matches!(
        raw.recv(),
        Some(Reply::Welcome { position: 0, .. })
    ));
    // Batches whose ACKs are never read, until the server stops reading too.
    raw.stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut sent = 0u64;
    while sent < 2_000_000 {
        if raw
            .stream
            .write_all(&batch(sent, 1, 10_000 + sent, "1"))
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    assert!(
        sent < 2_000_000,
        "the server kept reading: it never blocked"
    );
    wait_for("the stuck session to end", Duration::from_secs(10), || {
        server.count_in_log("the peer read nothing") == 1
    });
    let mut again = Raw::connect(server.port);
    again.send(&ClientMessage::Hello {
        agency: 1,
        secret: b"",
    });
    assert!(
        matches!(again.recv(), Some(Reply::Welcome { .. })),
        "the agency is free again"
    );
    drop(raw);
    evidence(
        "a peer that stops reading its ACKs",
        &format!(
            "{sent} one-bet batches sent, nothing read, 2 KiB receive buffer, IDLE_TIMEOUT=1s"
        ),
        "the blocked write counts as idleness: the session ends and frees the agency",
    );
}

#[test]
fn a_restart_with_fewer_agencies_than_the_journal_names_is_a_startup_error() {
    let scratch = Scratch::new("fewer");
    let data = generated(5, 50, "fewer");
    let mut server = Server::start(&scratch.0, 5, &[]);
    let mut waiting: Vec<ClientProcess> = [4, 5]
        .into_iter()
        .map(|id| spawn_client(&server.address(), id, &data.file(id), &[]))
        .collect();
    wait_for(
        "the ENDs of agencies 4 and 5",
        Duration::from_secs(20),
        || server.count_in_log("action: end_agency | result: success") == 2,
    );
    for client in &mut waiting {
        client.kill().unwrap();
        let _ = client.wait();
    }
    assert!(server.terminate().success());
    let (status, log) = start_expecting_refusal(&scratch, &[("AGENCIES", "3")]);
    assert_eq!(status, Some(1), "the server must refuse to start: {log}");
    assert!(log.contains("names agencies 4,5 outside 1..=3"), "{log}");
    assert_eq!(
        log.matches("action: start_coordinator | result: success")
            .count(),
        1,
        "no restart loop: {log}"
    );
    assert!(!log.contains("action: sorteo"), "{log}");
    evidence(
        "AGENCIES lowered across a restart",
        "ENDs of agencies 4 and 5 on record, restart with AGENCIES=3",
        "a startup error naming agencies 4 and 5, exit 1; the barrier never counts an agency outside the round",
    );
}

/// Starts a server in `scratch` that should refuse to run: its exit code (None if it was still
/// running after 10 s, then killed) and its log.
fn start_expecting_refusal(scratch: &Scratch, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = std::fs::File::create(scratch.path("refused.log")).unwrap();
    let mut command = std::process::Command::new(SERVER);
    command
        .current_dir(&scratch.0)
        .env("SERVER_PORT", "0")
        .env("BETS_FILE", scratch.path("bets.csv"))
        .env("LOGGING_LEVEL", "INFO")
        .stdout(out);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut server = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() >= deadline {
            let _ = server.kill();
            let _ = server.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(scratch.path("refused.log")).unwrap_or_default();
    (status, log)
}

#[test]
fn an_agency_missing_from_the_secrets_file_is_a_startup_error() {
    let scratch = Scratch::new("nosecret");
    std::fs::write(scratch.path("secrets"), "1=uno\n3=tres\n").unwrap();
    let secrets = scratch.path("secrets");
    let env = [
        ("AGENCIES", "3"),
        ("SECRETS_FILE", secrets.to_str().unwrap()),
    ];
    let (status, log) = start_expecting_refusal(&scratch, &env);
    assert_eq!(status, Some(1), "{log}");
    assert!(log.contains("no secret for agencies 2:"), "{log}");
    evidence(
        "an agency missing from SECRETS_FILE",
        "secrets for agencies 1 and 3 of 3",
        "a startup error naming agency 2, exit 1 (it could never connect, so the draw could never happen)",
    );
}

#[test]
fn an_agency_file_ending_inside_quotes_is_a_clear_error_not_a_hang() {
    let scratch = Scratch::new("badcsv");
    let server = Server::start(&scratch.0, 1, &[]);
    let data = scratch.path("agency-1.csv");
    std::fs::write(
        &data,
        "Ana,Perez,1,2000-01-01,7574\r\nBo,\"Diaz,2,2000-01-01,1\r\n",
    )
    .unwrap();
    let mut client = spawn_client(&server.address(), 1, &data, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = client.kill();
            panic!("the client hung on a file that ends inside quotes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = client.wait_with_output();
    let log = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(
        log.contains("agency-1.csv row 2: the file ends inside a quoted field"),
        "{log}"
    );
    evidence(
        "an agency file that ends inside a quoted field",
        "a row with an opening quote that is never closed",
        "the client stops with an error naming the file and row, exit 1 (no hang)",
    );
}

#[test]
fn wrong_secrets_are_rate_limited_per_address() {
    let scratch = Scratch::new("guess");
    std::fs::write(scratch.path("secrets"), "1=uno-secreto\n").unwrap();
    let secrets = scratch.path("secrets");
    let server = Server::start(
        &scratch.0,
        1,
        &[("SECRETS_FILE", secrets.to_str().unwrap())],
    );
    let hello = |secret: &[u8]| {
        let mut raw = Raw::connect(server.port);
        raw.send(&ClientMessage::Hello { agency: 1, secret });
        raw.recv()
    };
    for guess in 0..5 {
        let secret = format!("guess-{guess}");
        assert!(matches!(
            hello(secret.as_bytes()),
            Some(Reply::Error(ErrorCode::Unauthorized, text)) if text.starts_with("wrong secret")
        ));
    }
    match hello(b"uno-secreto") {
        Some(Reply::Error(ErrorCode::Unauthorized, text)) => {
            assert!(text.starts_with("too many wrong secrets"), "{text}")
        }
        other => panic!("after 5 wrong guesses even the right secret waits: {other:?}"),
    }
    assert_eq!(
        server.count_in_log("reason: too many wrong secrets from this address"),
        1
    );
    evidence(
        "guessing an agency's secret",
        "5 wrong secrets from one address, then the right one",
        "the 6th attempt is refused (too many wrong secrets; one more guess per 12 s)",
    );
}

/// A peer that sends the header of an 8,000-byte frame, then one payload byte every 300 ms.
fn trickle(
    port: u16,
    running: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        if stream.write_all(&[MAGIC, 0x02, 0x1F, 0x40]).is_err() {
            return;
        }
        while running.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(300));
            if stream.write_all(b"x").is_err() {
                return;
            }
        }
    })
}

#[test]
fn slow_bytes_neither_hold_a_session_nor_keep_an_agency_out() {
    let scratch = Scratch::new("slowbytes");
    let data = generated(1, 200, "slowbytes");
    let server = Server::start(
        &scratch.0,
        1,
        &[("MAX_SESSIONS", "4"), ("FRAME_TIMEOUT", "2s")],
    );
    // One slow peer alone: its frame has a deadline even though bytes keep coming.
    let mut raw = Raw::connect(server.port);
    raw.send_raw(&[MAGIC, 0x02, 0x1F, 0x40]);
    let started = Instant::now();
    let mut refused = None;
    while started.elapsed() < Duration::from_secs(5) && refused.is_none() {
        std::thread::sleep(Duration::from_millis(300));
        raw.send_raw(b"x");
        raw.stream
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let mut byte = [0u8; 64];
        if let Ok(n) = std::io::Read::read(&mut raw.stream, &mut byte) {
            refused = Some((n, started.elapsed()));
        }
    }
    let (_, after) = refused.expect("the trickling frame was cut");
    assert!(after < Duration::from_secs(4), "cut after {after:?}");
    assert_eq!(
        server.count_in_log("not whole within 2000 ms"),
        1,
        "{}",
        server.logs()
    );

    // Twice MAX_SESSIONS slow peers, then an honest agency with a 3 s retry window.
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let peers: Vec<_> = (0..8)
        .map(|_| trickle(server.port, running.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let (status, log) = run_client(
        &server.address(),
        1,
        &data.file(1),
        &[("CLI_RETRY_TIMEOUT", "3s")],
    );
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    for peer in peers {
        let _ = peer.join();
    }
    assert!(
        status.success(),
        "the agency got in past the slow peers: {log}"
    );
    evidence(
        "slow bytes",
        "a frame trickled at one byte per 300 ms; 8 such peers with MAX_SESSIONS=4, then an honest agency",
        "each frame is cut 2 s (FRAME_TIMEOUT) after its first byte, so no slot is held by slow bytes; the agency finishes",
    );
}
