//! Coming back: a client killed mid-upload or while it waits for the draw starts again and
//! finishes without sending anything twice; a server restarted after every END answers from
//! disk with the same winners and no second draw; a restart with fewer agencies than the END
//! journal names is a startup error, not a round that could never close.
//!
//! Each test prints one `reliability:` row for `docs/reliability.md` (`make reliability`).

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_client_killed_mid_upload_and_restarted_finishes_without_duplicates() {
    let (mut round, data) = Round::generated("clientkill", 2, 40_000, &[]);
    let other = spawn_client(&round.address(), 2, &data.file(2), &[]);
    let mut victim = spawn_client(
        &round.address(),
        1,
        &data.file(1),
        &[("CLI_BATCH_MAXAMOUNT", "10"), ("CLI_BATCH_WINDOW", "2")],
    );
    round.wait_for_batches(20);
    victim.kill().unwrap();
    let _ = victim.wait();
    run_client_ok(&round.address(), 1, &data.file(1), &[]);
    let output = other.wait_with_output();
    assert!(output.status.success(), "{}", output.log());
    assert_one_complete_draw(&round, &data);
    assert!(round.terminate().success());
    evidence("a client killed mid-batch and started again", "SIGKILL of the client process", "the restart resumes at the server's position: no duplicates; the other agency unaffected; one draw");
}

#[test]
fn a_client_killed_while_waiting_for_the_draw_comes_back_and_waits_again() {
    let (mut round, data) = Round::generated("waitkill", 2, 500, &[]);
    let mut victim = spawn_client(&round.address(), 1, &data.file(1), &[]);
    wait_for("agency 1's END", Duration::from_secs(20), || {
        round.count_in_log("action: end_agency | result: success | agency: 1") == 1
    });
    std::thread::sleep(Duration::from_millis(300));
    victim.kill().unwrap();
    let _ = victim.wait();
    // A short retry window: an agency locked out by its dead session would give up within it.
    let back = spawn_client(
        &round.address(),
        1,
        &data.file(1),
        &[("CLI_RETRY_TIMEOUT", "3s")],
    );
    std::thread::sleep(Duration::from_secs(4));
    run_client_ok(&round.address(), 2, &data.file(2), &[]);
    let log = finished_with_winners(back, data.winners[0], "the restarted agency waited");
    assert!(
        !log.contains("apuesta_enviada"),
        "nothing re-uploaded: {log}"
    );
    assert_one_complete_draw(&round, &data);
    assert!(round.terminate().success());
    evidence(
        "an agency's client dies while it waits for the draw",
        "SIGKILL of the client after its END, restart with a 3 s retry window, draw 4 s later",
        "the waiting session sees the close and gives up the claim; the restarted client waits and gets its winners",
    );
}

#[test]
fn a_restarted_server_with_every_end_answers_winners_without_uploads() {
    let (mut round, data) = Round::generated("ends", 2, 3_000, &[]);
    let first = spawn_client(&round.address(), 1, &data.file(1), &[]);
    run_client_ok(&round.address(), 2, &data.file(2), &[]);
    let output = first.wait_with_output();
    assert!(output.status.success(), "{}", output.log());
    assert!(round.terminate().success());
    round.restart_on(0, 2, &[]);
    // The coordinator starts after the listener: wait for it to have read the disk.
    wait_for("the restarted coordinator", Duration::from_secs(10), || {
        round.count_in_log("action: start_coordinator | result: success | agencies") == 2
    });
    // server.log holds both runs: the first run's draw, and the restarted run's recovery of it.
    assert_eq!(
        round.count_in_log("action: sorteo | result: success"),
        1,
        "one draw per round, however many runs"
    );
    assert_eq!(
        round.count_in_log("action: recover_draw | result: success"),
        1,
        "the restarted run recovers the draw from disk"
    );
    for id in 1..=2 {
        let log = run_client_ok(&round.address(), id, &data.file(id), &[]);
        assert_winners(&log, data.winners[id as usize - 1], "after the restart");
        assert!(
            !log.contains("apuesta_enviada"),
            "nothing is uploaded again"
        );
    }
    assert_stored_exactly_once(&round.bets(), &data);
    assert!(round.terminate().success());
    evidence(
        "server restart after every END",
        "SIGTERM, start again, clients run again",
        "the new run recovers the draw from disk (recover_draw, no second sorteo); same winners; nothing re-uploaded",
    );
}

#[test]
fn a_restart_with_fewer_agencies_than_the_journal_names_is_a_startup_error() {
    let (mut round, data) = Round::generated("fewer", 5, 50, &[]);
    let mut waiting: Vec<ClientProcess> = [4, 5]
        .into_iter()
        .map(|id| spawn_client(&round.address(), id, &data.file(id), &[]))
        .collect();
    wait_for(
        "the ENDs of agencies 4 and 5",
        Duration::from_secs(20),
        || round.count_in_log("action: end_agency | result: success") == 2,
    );
    for client in &mut waiting {
        client.kill().unwrap();
        let _ = client.wait();
    }
    assert!(round.terminate().success());
    let (status, log) = refused_start(&round.scratch.0, &[("AGENCIES", "3")]);
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
