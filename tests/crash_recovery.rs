//! A server process dies, and nothing acknowledged is lost or doubled: the whole tree SIGKILLed
//! at random moments and restarted, the coordinator or one session killed (the parent restarts
//! or reaps it), or the parent killed alone (its children die with it, and a second server on
//! the same bets file is refused). Clients keep retrying and every round ends with one draw.
//!
//! Each test prints one `reliability:` row for `docs/reliability.md` (`make reliability`).

mod common;

use std::time::Duration;

use common::*;

/// Resume after the whole server tree is SIGKILLed at random moments, 20 times over the dataset
/// (`TP0_KILL_CYCLES` sets how many).
#[test]
fn kill_9_restart_loop_loses_and_doubles_nothing() {
    let data = dataset();
    let cycles: u32 = std::env::var("TP0_KILL_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut random = XorShift::new(0x9E37_79B9_7F4A_7C15);
    let mut kills_mid_upload = 0;
    for cycle in 0..cycles {
        // A fresh directory each cycle: no bets file, journal or log from the last one.
        let mut round = Round::start(&format!("kill9-{cycle}"), data.agencies, &[]);
        let clients = spawn_agencies(
            &round,
            &data,
            &[("CLI_BATCH_MAXAMOUNT", "20"), ("CLI_BATCH_WINDOW", "4")],
        );
        std::thread::sleep(Duration::from_micros(random.next_u64() % 60_000));
        let before = std::fs::metadata(round.bets()).map_or(0, |m| m.len());
        round.kill_tree();
        if round.count_in_log("action: sorteo") == 0 {
            kills_mid_upload += 1;
        }
        round.restart(data.agencies, &[]);
        assert_each_gets_its_winners(clients, &data, &format!("cycle {cycle}, "));
        assert_stored_exactly_once(&round.bets(), &data);
        assert!(std::fs::metadata(round.bets()).unwrap().len() >= before);
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

/// After a child of the server was killed: every client finishes, the parent logged the crash
/// (`crash`, its log line) once, each row is stored once with one draw, and SIGTERM still stops
/// the server cleanly.
fn assert_recovered(mut round: Round, clients: Vec<ClientProcess>, data: &Dataset, crash: &str) {
    assert_all_succeed(clients);
    assert_eq!(round.count_in_log(crash), 1, "{}", round.logs());
    assert_one_complete_draw(&round, data);
    assert!(round.terminate().success());
}

#[test]
fn a_crashed_coordinator_is_restarted_from_disk_and_clients_resume() {
    let (round, data) = Round::generated("coordcrash", 2, 30_000, &[]);
    let clients = spawn_agencies(&round, &data, &[("CLI_BATCH_MAXAMOUNT", "20")]);
    round.wait_for_batches(10);
    send_signal(round.coordinator_pid(), Signal::SIGKILL);
    assert_recovered(
        round,
        clients,
        &data,
        "action: coordinator_exit | result: fail",
    );
    evidence("the coordinator process dies", "SIGKILL of the coordinator mid-upload", "the parent logs it, ends the sessions, starts a new coordinator from disk; clients resume; one draw");
}

#[test]
fn a_killed_session_child_is_logged_and_its_agency_resumes() {
    let (round, data) = Round::generated("sessionkill", 2, 40_000, &[]);
    let clients = spawn_agencies(
        &round,
        &data,
        &[("CLI_BATCH_MAXAMOUNT", "20"), ("CLI_BATCH_WINDOW", "2")],
    );
    round.wait_for_batches(20);
    let coordinator = round.coordinator_pid();
    let session = children_of(round.pid())
        .into_iter()
        .map(|(pid, _)| pid)
        .find(|pid| *pid != coordinator)
        .expect("a session child");
    send_signal(session, Signal::SIGKILL);
    assert_recovered(round, clients, &data, "action: session_exit | result: fail");
    evidence("a session child dies", "SIGKILL of one session process mid-upload", "the parent logs the crash; the agency reconnects (the dead claim lapses) and resumes; one draw");
}

#[test]
fn a_killed_parent_takes_its_children_with_it_and_a_second_server_is_refused() {
    let (mut round, data) = Round::generated("orphans", 3, 60_000, &[("SHUTDOWN_GRACE", "1s")]);
    let clients = spawn_agencies(
        &round,
        &data,
        &[("CLI_BATCH_MAXAMOUNT", "20"), ("CLI_BATCH_WINDOW", "2")],
    );
    round.wait_for_batches(20);
    // SIGKILL of the parent alone: no child may live on with its commit page.
    let children = descendants(round.pid());
    assert!(children.len() >= 2);
    round.signal(Signal::SIGKILL);
    let _ = round.wait_exit(Duration::from_secs(5));
    wait_for(
        "children to die with their parent",
        Duration::from_secs(5),
        || children.iter().all(|pid| !is_running(*pid)),
    );
    round.restart(3, &[]);
    // A second server on the same bets file refuses while the restarted one lives.
    let other = Scratch::new("orphans-other");
    let bets = round.bets().display().to_string();
    let (status, log) = refused_start(
        &other.0,
        &[("SHUTDOWN_GRACE", "1s"), ("BETS_FILE", bets.as_str())],
    );
    assert_eq!(status, Some(1), "{log}");
    assert!(log.contains("another server instance"), "{log}");
    assert_all_succeed(clients);
    assert_stored_exactly_once(&round.bets(), &data);
    evidence("the parent dies alone (OOM killer); a second server on the same file", "SIGKILL of the parent only; a second server started on the same BETS_FILE", "children die with the parent (PR_SET_PDEATHSIG), the second server refuses with a clear error, a restart resumes exactly once");
}
