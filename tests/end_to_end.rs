//! A whole round as processes, real `server` and `client`s on 127.0.0.1: every agency's bets
//! stored once (the course's csv module reads them back), each agency told only its winners, and
//! only after the draw; exercise 5's single bet; a watched round that opens after every check-in.

mod common;

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use tp0::protocol::ClientMessage;

#[test]
fn five_agencies_upload_the_dataset_and_each_gets_only_its_winners() {
    let data = dataset();
    let mut round = Round::start("dataset", data.agencies, &[]);
    let clients = spawn_agencies(&round, &data, &[]);
    for log in assert_each_gets_its_winners(clients, &data, "") {
        assert!(!log.contains("result: fail"), "{log}");
    }
    assert_one_complete_draw(&round, &data);
    assert_eq!(round.count_in_log("result: fail"), 0, "{}", round.logs());
    assert!(round.terminate().success());
    // Python's csv module (the course's load_bets) reads every row back, winners included.
    let script = "import csv,sys\nrows=list(csv.reader(open(sys.argv[1], newline='')))\nassert all(len(r)==6 for r in rows)\nprint(len(rows), sum(1 for r in rows if int(r[5])==7574))";
    if let Ok(out) = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(round.bets())
        .output()
    {
        let expected = format!("{} {}", data.rows, data.winners.iter().sum::<usize>());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
    }
}

#[test]
fn exercise_5_stores_one_bet_from_the_environment_exactly_once() {
    let mut round = Round::start("onebet", 5, &[]);
    let env = [
        ("CLI_MODE", "bet"),
        ("NOMBRE", "Santiago Lionel"),
        ("APELLIDO", "Lorca"),
        ("DOCUMENTO", "30904465"),
        ("NACIMIENTO", "1999-03-17"),
        ("NUMERO", "7574"),
    ];
    for _ in 0..2 {
        let log = run_client_ok(&round.address(), 3, &round.path("none"), &env);
        assert!(
            log.contains(
                "action: apuesta_enviada | result: success | dni: 30904465 | numero: 7574"
            ),
            "{log}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(round.bets()).unwrap(),
        "3,Santiago Lionel,Lorca,30904465,1999-03-17,7574\r\n"
    );
    assert_eq!(
        round.count_in_log(
            "action: apuesta_almacenada | result: success | dni: 30904465 | numero: 7574"
        ),
        1
    );
    assert!(round.terminate().success());
}

#[test]
fn a_winners_query_before_the_draw_waits_and_never_gets_partial_lists() {
    let round = Round::start("barrier", 2, &[]);
    let mut first = Raw::new_agency(round.port, 1);
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
    let mut second = Raw::new_agency(round.port, 2);
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
    assert_eq!(round.count_in_log("action: sorteo | result: success"), 1);
}

#[test]
fn a_watched_round_opens_after_every_check_in_and_announces_the_draw_before_any_winners() {
    let watch = [("OPENING_DELAY", "600ms"), ("WINNERS_DELAY", "300ms")];
    let (mut round, data) = Round::generated("watched", 2, 300, &watch);
    let first = spawn_client(&round.address(), 1, &data.file(1), &[]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        round.count_in_log("action: apuesta_recibida"),
        0,
        "nothing is taken before every agency has checked in:\n{}",
        round.logs()
    );
    assert_eq!(round.count_in_log("action: hello | result: in_progress"), 1);
    let last_check_in = Instant::now();
    let second = spawn_client(&round.address(), 2, &data.file(2), &[]);
    assert_each_gets_its_winners(vec![first, second], &data, "");
    // A lower bound only: a slow machine makes the waits longer, never shorter.
    assert!(
        last_check_in.elapsed() >= Duration::from_millis(900),
        "opening (600 ms) and release (300 ms) both waited"
    );
    let logs = round.logs();
    let first_at = |needle: &str| {
        logs.lines()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} in\n{logs}"))
    };
    assert!(first_at("action: apertura | result: success") < first_at("action: apuesta_recibida"));
    assert!(first_at("action: sorteo | result: success") < first_at("action: enviar_ganadores"));
    assert_eq!(round.count_in_log("result: fail"), 0, "{logs}");
    assert!(round.terminate().success());

    // A restart recovers the round: open at once, the same winners, and no second `sorteo`.
    round.restart_on(0, data.agencies, &watch);
    let log = run_client_ok(&round.address(), 1, &data.file(1), &[]);
    assert_winners(&log, data.winners[0], "agency 1 after the restart");
    assert_eq!(round.count_in_log("action: sorteo | result: success"), 1);
    assert_eq!(
        round.count_in_log("action: recover_draw | result: success"),
        1
    );
    assert_eq!(
        round.count_in_log("action: nueva_ronda"),
        1,
        "only the first run was new"
    );
    assert!(round.terminate().success());
}
