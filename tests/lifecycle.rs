//! Starting and stopping: SIGTERM mid-upload stops every process cleanly, logging each resource
//! and leaving whole rows only; a client stopped by SIGTERM exits 0 and says so; thousands of
//! connections leave no zombie; a bad config value is one error line naming its key; a client
//! with no server gives up when its retry window closes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn sigterm_mid_upload_stops_every_process_cleanly_and_logs_each_resource() {
    let (mut round, data) = Round::generated("sigterm", 3, 150_000, &[]);
    let clients = spawn_agencies(&round, &data, &[("CLI_RETRY_TIMEOUT", "1s")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while round.count_in_log("apuesta_recibida | result: success") < 3 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let tree = descendants(round.pid());
    assert!(tree.len() >= 2, "coordinator and sessions are running");
    let status = round.terminate();
    assert!(
        status.success(),
        "server exit: {status:?}\n{}",
        round.logs()
    );
    assert!(
        tree.iter().all(|pid| !is_running(*pid)),
        "no child outlives the server"
    );
    let logs = round.logs();
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
    let stored = std::fs::read(round.bets()).unwrap();
    assert!(stored.is_empty() || stored.ends_with(b"\r\n"));
}

#[test]
fn a_client_stopped_by_sigterm_exits_0_and_says_so() {
    let round = Round::start("clientterm", 2, &[]);
    // Agency 1 uploads and waits for a draw that agency 2 never allows.
    let data = generated(1, 10, "clientterm");
    let child = spawn_client(&round.address(), 1, &data.file(1), &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while round.count_in_log("end_agency | result: success") == 0 {
        assert!(Instant::now() < deadline, "{}", round.logs());
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    send_signal(child.id() as i32, Signal::SIGTERM);
    let output = child.wait_with_output();
    let log = output.log();
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("action: shutdown | result: success | client_id: 1"),
        "{log}"
    );
}

#[test]
fn thousands_of_connections_leave_no_zombie() {
    let mut round = Round::start("zombies", 1, &[]);
    for i in 0..1500 {
        let mut stream = TcpStream::connect(("127.0.0.1", round.port)).unwrap();
        if i % 2 == 0 {
            stream.write_all(b"ping\n").unwrap();
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).unwrap();
            assert_eq!(reply, b"ping\n");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let children = children_of(round.pid());
        let zombies = children.iter().filter(|(_, state)| *state == 'Z').count();
        if children.len() == 1 && zombies == 0 {
            break; // only the coordinator
        }
        assert!(Instant::now() < deadline, "children left: {children:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(round.terminate().success());
}

#[test]
fn an_invalid_config_value_is_one_error_line_naming_the_key() {
    let scratch = Scratch::new("badconfig");
    scratch.write(
        "config.ini",
        "[DEFAULT]\nSERVER_PORT = 12345\nAGENCIES = cinco\n",
    );
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
fn a_client_gives_up_after_its_retry_window_without_progress() {
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
}
