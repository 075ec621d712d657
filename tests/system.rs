//! The whole system as processes: real `server`, real `client`s, on 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use tp0::protocol::ClientMessage;

#[test]
fn five_agencies_upload_the_dataset_and_each_gets_only_its_winners() {
    let scratch = Scratch::new("dataset");
    let data = dataset();
    let mut server = Server::start(&scratch.0, data.agencies, &[]);
    let clients = spawn_agencies(&server, &data, &[]);
    for (index, child) in clients.into_iter().enumerate() {
        let output = child.wait_with_output();
        let log = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "client {} failed:\n{log}",
            index + 1
        );
        let winners: usize = logged_value(&log, "consulta_ganadores", "cant_ganadores")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(winners, data.winners[index], "client {}", index + 1);
        assert!(!log.contains("result: fail"), "{log}");
    }
    assert_one_complete_draw(&server, &data);
    assert_eq!(server.count_in_log("result: fail"), 0, "{}", server.logs());
    assert!(server.terminate().success());
    // Python's csv module (the course's load_bets) reads every row back, winners included.
    let script = "import csv,sys\nrows=list(csv.reader(open(sys.argv[1], newline='')))\nassert all(len(r)==6 for r in rows)\nprint(len(rows), sum(1 for r in rows if int(r[5])==7574))";
    if let Ok(out) = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(scratch.path("bets.csv"))
        .output()
    {
        let expected = format!("{} {}", data.rows, data.winners.iter().sum::<usize>());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
    }
}

#[test]
fn a_text_line_is_echoed_and_logged_on_the_same_port() {
    let scratch = Scratch::new("echo");
    let mut server = Server::start(&scratch.0, 1, &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.write_all("hola mundo | ñandú\n".as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "hola mundo | ñandú\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.count_in_log(
        "action: receive_message | result: success | ip: 127.0.0.1 | msg: hola mundo / ñandú",
    ) == 0
    {
        assert!(Instant::now() < deadline, "{}", server.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The echo client mode (exercises 1-4) against it.
    let (status, log) = run_client(
        &server.address(),
        7,
        &scratch.path("none"),
        &[
            ("CLI_MODE", "echo"),
            ("CLI_LOOP_AMOUNT", "3"),
            ("CLI_LOOP_PERIOD", "10ms"),
        ],
    );
    assert!(status.success(), "{log}");
    assert!(log.contains(
        "action: receive_message | result: success | client_id: 7 | msg: [CLIENT 7] Message N°3"
    ));
    assert!(log.contains("action: loop_finished | result: success | client_id: 7"));
    assert!(server.terminate().success());
}

#[test]
fn exercise_5_stores_one_bet_from_the_environment_exactly_once() {
    let scratch = Scratch::new("onebet");
    let mut server = Server::start(&scratch.0, 5, &[]);
    let env = [
        ("CLI_MODE", "bet"),
        ("NOMBRE", "Santiago Lionel"),
        ("APELLIDO", "Lorca"),
        ("DOCUMENTO", "30904465"),
        ("NACIMIENTO", "1999-03-17"),
        ("NUMERO", "7574"),
    ];
    for _ in 0..2 {
        let (status, log) = run_client(&server.address(), 3, &scratch.path("none"), &env);
        assert!(status.success(), "{log}");
        assert!(log
            .contains("action: apuesta_enviada | result: success | dni: 30904465 | numero: 7574"));
    }
    assert_eq!(
        std::fs::read_to_string(scratch.path("bets.csv")).unwrap(),
        "3,Santiago Lionel,Lorca,30904465,1999-03-17,7574\r\n"
    );
    assert_eq!(
        server.count_in_log(
            "action: apuesta_almacenada | result: success | dni: 30904465 | numero: 7574"
        ),
        1
    );
    assert!(server.terminate().success());
}

#[test]
fn sigterm_mid_upload_stops_every_process_cleanly_and_logs_each_resource() {
    let scratch = Scratch::new("sigterm");
    let data = generated(3, 150_000, "sigterm");
    let mut server = Server::start(&scratch.0, 3, &[]);
    let clients = spawn_agencies(&server, &data, &[("CLI_RETRY_TIMEOUT", "1s")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.count_in_log("apuesta_recibida | result: success") < 3 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let tree = descendants(server.pid());
    assert!(tree.len() >= 2, "coordinator and sessions are running");
    let status = server.terminate();
    assert!(
        status.success(),
        "server exit: {status:?}\n{}",
        server.logs()
    );
    assert!(
        tree.iter().all(|pid| !is_running(*pid)),
        "no child outlives the server"
    );
    let logs = server.logs();
    for resource in [
        "resource: listener",
        "resource: coordinator",
        "resource: server",
    ] {
        assert!(
            logs.contains(&format!("action: shutdown | result: success | {resource}")),
            "{resource}:\n{logs}"
        );
    }
    for child in clients {
        let _ = child.wait_with_output();
    }
    // What was acknowledged is whole rows only.
    let stored = std::fs::read(scratch.path("bets.csv")).unwrap();
    assert!(stored.is_empty() || stored.ends_with(b"\r\n"));
}

#[test]
fn a_client_stopped_by_sigterm_exits_0_and_says_so() {
    let scratch = Scratch::new("clientterm");
    let server = Server::start(&scratch.0, 2, &[]);
    // Agency 1 uploads and waits for a draw that agency 2 never allows.
    let data = generated(1, 10, "clientterm");
    let child = spawn_client(&server.address(), 1, &data.file(1), &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.count_in_log("end_agency | result: success") == 0 {
        assert!(Instant::now() < deadline, "{}", server.logs());
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    send_signal(child.id() as i32, Signal::SIGTERM);
    let output = child.wait_with_output();
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("action: shutdown | result: success | client_id: 1"),
        "{log}"
    );
}

#[test]
fn thousands_of_connections_leave_no_zombie() {
    let scratch = Scratch::new("zombies");
    let mut server = Server::start(&scratch.0, 1, &[]);
    for i in 0..1500 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        if i % 2 == 0 {
            stream.write_all(b"ping\n").unwrap();
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).unwrap();
            assert_eq!(reply, b"ping\n");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children = children_of(server.pid());
        let zombies = children.iter().filter(|(_, state)| *state == 'Z').count();
        if children.len() == 1 && zombies == 0 {
            break; // only the coordinator
        }
        assert!(Instant::now() < deadline, "children left: {children:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.terminate().success());
}

#[test]
fn an_invalid_config_value_is_one_error_line_naming_the_key() {
    let scratch = Scratch::new("badconfig");
    std::fs::write(
        scratch.path("config.ini"),
        "[DEFAULT]\nSERVER_PORT = 12345\nAGENCIES = cinco\n",
    )
    .unwrap();
    let out = Command::new(SERVER)
        .current_dir(&scratch.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("action: config | result: fail") && text.contains("AGENCIES"),
        "{text}"
    );
    let out = Command::new(CLIENT)
        .current_dir(&scratch.0)
        .env("CLI_LOOP_PERIOD", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("loop.period"));
}

#[test]
fn a_winners_query_before_the_draw_waits_and_never_gets_partial_lists() {
    let scratch = Scratch::new("barrier");
    let server = Server::start(&scratch.0, 2, &[]);
    let mut first = Raw::new_agency(server.port, 1);
    first.send_raw(&batch(0, 3, 100, "7574"));
    assert_eq!(first.recv(), Some(Reply::Ack(3)));
    first.send(&ClientMessage::End { total: 3 });
    assert_eq!(first.recv(), Some(Reply::Ack(3)));
    first.send(&ClientMessage::Winners);
    first
        .stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut probe = [0u8; 1];
    assert!(
        first.stream.read(&mut probe).is_err(),
        "nothing before agency 2 ends"
    );
    first
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut second = Raw::new_agency(server.port, 2);
    second.send_raw(&batch(0, 2, 200, "1"));
    assert_eq!(second.recv(), Some(Reply::Ack(2)));
    second.send(&ClientMessage::End { total: 2 });
    assert_eq!(second.recv(), Some(Reply::Ack(2)));
    assert!(matches!(
        first.recv(),
        Some(Reply::Receipt { count: 3, .. })
    ));
    assert_eq!(
        first.recv(),
        Some(Reply::Winners {
            total: 3,
            documents: vec!["100".into(), "101".into(), "102".into()]
        })
    );
    second.send(&ClientMessage::Winners);
    assert!(matches!(
        second.recv(),
        Some(Reply::Receipt { count: 2, .. })
    ));
    assert_eq!(
        second.recv(),
        Some(Reply::Winners {
            total: 0,
            documents: vec![]
        })
    );
    assert_eq!(server.count_in_log("action: sorteo | result: success"), 1);
}

/// Every `action:` line any process wrote follows the course format: a known result and a colon in
/// every detail (the course's black-box tests parse them), and no value holds a `|`.
#[test]
fn every_action_line_follows_the_course_format() {
    let scratch = Scratch::new("format");
    let data = generated(2, 2_000, "format");
    let mut server = Server::start(&scratch.0, 2, &[("LOGGING_LEVEL", "DEBUG")]);
    let mut logs = String::new();
    for child in spawn_agencies(&server, &data, &[("CLI_LOG_LEVEL", "DEBUG")]) {
        logs.push_str(&String::from_utf8_lossy(&child.wait_with_output().stdout));
    }
    let mut raw = Raw::connect(server.port);
    raw.send_raw(b"\xFF\x42\x00\x00");
    let _ = raw.recv();
    assert!(server.terminate().success());
    logs.push_str(&server.logs());
    let mut checked = 0;
    for line in logs.lines().filter(|line| line.contains("action:")) {
        let parts: Vec<&str> = line[line.find("action:").unwrap()..].split(" | ").collect();
        assert!(
            parts[0].starts_with("action: ") && !parts[0][8..].contains(' '),
            "{line}"
        );
        assert!(
            matches!(
                parts.get(1),
                Some(&"result: success" | &"result: fail" | &"result: in_progress")
            ),
            "{line}"
        );
        for detail in &parts[2..] {
            let key = detail.split(": ").next().unwrap();
            assert!(
                detail.contains(": ") && !key.is_empty() && !key.contains(' '),
                "{line}"
            );
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} lines");
}

#[test]
fn a_client_gives_up_after_its_retry_window_without_progress() {
    let scratch = Scratch::new("giveup");
    let data = generated(1, 10, "giveup");
    let started = Instant::now();
    let (status, log) = run_client(
        &format!("127.0.0.1:{}", free_port()),
        1,
        &data.file(1),
        &[("CLI_RETRY_TIMEOUT", "1s")],
    );
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("gave up after"), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    drop(scratch);
}

#[test]
fn a_watched_round_opens_after_every_check_in_and_announces_the_draw_before_any_winners() {
    let scratch = Scratch::new("watched");
    let data = generated(2, 300, "watched");
    let watch = [("OPENING_DELAY", "600ms"), ("WINNERS_DELAY", "300ms")];
    let mut server = Server::start(&scratch.0, data.agencies, &watch);
    let first = spawn_client(&server.address(), 1, &data.file(1), &[]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        server.count_in_log("action: apuesta_recibida"),
        0,
        "nothing is taken before every agency has checked in:\n{}",
        server.logs()
    );
    assert_eq!(
        server.count_in_log("action: hello | result: in_progress"),
        1
    );
    let last_check_in = Instant::now();
    let second = spawn_client(&server.address(), 2, &data.file(2), &[]);
    let outputs = [first.wait_with_output(), second.wait_with_output()];
    assert!(
        last_check_in.elapsed() >= Duration::from_millis(900),
        "opening (600 ms) and release (300 ms) both waited"
    );
    for (index, output) in outputs.iter().enumerate() {
        let log = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{log}");
        let winners = logged_value(&log, "consulta_ganadores", "cant_ganadores");
        assert_eq!(winners, Some(data.winners[index].to_string()), "{log}");
    }
    let logs = server.logs();
    let first_at = |needle: &str| {
        logs.lines()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{logs}"))
    };
    assert!(first_at("action: apertura | result: success") < first_at("action: apuesta_recibida"));
    assert!(first_at("action: sorteo | result: success") < first_at("action: enviar_ganadores"));
    assert_eq!(server.count_in_log("result: fail"), 0, "{logs}");
    assert!(server.terminate().success());

    // A restart recovers the round: open at once, the same winners, and no second `sorteo`.
    let mut server = Server::start_on(&scratch.0, 0, data.agencies, &watch);
    let (status, log) = run_client(&server.address(), 1, &data.file(1), &[]);
    assert!(status.success(), "{log}");
    let winners = logged_value(&log, "consulta_ganadores", "cant_ganadores");
    assert_eq!(winners, Some(data.winners[0].to_string()), "{log}");
    assert_eq!(server.count_in_log("action: sorteo | result: success"), 1);
    assert_eq!(
        server.count_in_log("action: recover_draw | result: success"),
        1
    );
    assert_eq!(
        server.count_in_log("action: nueva_ronda"),
        1,
        "only the first run was new"
    );
    assert!(server.terminate().success());
}
