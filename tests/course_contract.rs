//! What the course's graders read: a text line on the bets port is echoed and logged (exercises
//! 1-4, and the client's echo mode against it), and every `action:` line any process writes
//! follows the course's log format.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

#[test]
fn a_text_line_is_echoed_and_logged_on_the_same_port() {
    let mut round = Round::start("echo", 1, &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", round.port)).unwrap();
    stream.write_all("hola mundo | ñandú\n".as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "hola mundo | ñandú\n");
    let logged =
        "action: receive_message | result: success | ip: 127.0.0.1 | msg: hola mundo / ñandú";
    wait_for(logged, Duration::from_secs(5), || {
        round.count_in_log(logged) > 0
    });
    // The echo client mode (exercises 1-4) against it.
    let log = run_client_ok(
        &round.address(),
        7,
        &round.path("none"),
        &[
            ("CLI_MODE", "echo"),
            ("CLI_LOOP_AMOUNT", "3"),
            ("CLI_LOOP_PERIOD", "10ms"),
        ],
    );
    assert!(
        log.contains(
            "action: receive_message | result: success | client_id: 7 | msg: [CLIENT 7] Message N°3"
        ),
        "{log}"
    );
    assert!(
        log.contains("action: loop_finished | result: success | client_id: 7"),
        "{log}"
    );
    assert!(round.terminate().success());
}

/// Every `action:` line any process wrote follows the course format: a known result and a colon in
/// every detail (the course's black-box tests parse them), and no value holds a `|`.
#[test]
fn every_action_line_follows_the_course_format() {
    let (mut round, data) = Round::generated("format", 2, 2_000, &[("LOGGING_LEVEL", "DEBUG")]);
    let mut logs = String::new();
    for child in spawn_agencies(&round, &data, &[("CLI_LOG_LEVEL", "DEBUG")]) {
        logs.push_str(&child.wait_with_output().log());
    }
    let mut raw = Raw::connect(round.port);
    raw.send_raw(b"\xFF\x42\x00\x00");
    let _ = raw.recv();
    assert!(round.terminate().success());
    logs.push_str(&round.logs());
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
