//! Who holds a session: one connection per agency (a second gets `AgencyBusy`, which a client
//! retries until its window closes); past `MAX_SESSIONS` the oldest anonymous peer gives way; a
//! silent upload, a peer that stops reading and a frame trickled byte by byte lose their slot,
//! while an agency waiting for the draw keeps its own however long it waits.
//!
//! Each test but the last prints one `reliability:` row for `docs/reliability.md`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tp0::protocol::{ClientMessage, ErrorCode, MAGIC};

/// The header of an 8,000-byte BETS frame, whose payload a slow peer then trickles.
const SLOW_FRAME_HEADER: [u8; 4] = [MAGIC, 0x02, 0x1F, 0x40];

#[test]
fn a_second_connection_for_a_busy_agency_is_refused_and_anonymous_peers_give_way() {
    let round = Round::start("busy", 3, &[("MAX_SESSIONS", "2")]);
    let mut first = Raw::new_agency(round.port, 1);
    let (_second, reply) = Raw::hello(round.port, 1, b"");
    assert!(matches!(
        reply,
        Some(Reply::Error(ErrorCode::AgencyBusy, _))
    ));
    // Two silent peers fill MAX_SESSIONS=2; the identified agency does not count.
    let mut oldest = Raw::connect(round.port);
    wait_for("the refused session to end", Duration::from_secs(5), || {
        children_of(round.pid()).len() == 3
    });
    let _younger = Raw::connect(round.port);
    wait_for("both silent sessions", Duration::from_secs(5), || {
        children_of(round.pid()).len() == 4
    });
    // A third anonymous peer gets in; the silent one connected longest gives way (once it has
    // been anonymous long enough not to be an agency whose HELLO is on its way).
    std::thread::sleep(Duration::from_millis(5100));
    let _newcomer = Raw::connect(round.port);
    oldest
        .stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(oldest.closed(), "the oldest anonymous peer was evicted");
    wait_for("the eviction's log line", Duration::from_secs(5), || {
        round.count_in_log("action: evict_session | result: success") >= 1
    });
    assert_eq!(
        round.count_in_log("action: evict_session | result: success"),
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
    let round = Round::start("idle", 2, &[("IDLE_TIMEOUT", "1s")]);
    let mut idle = Raw::new_agency(round.port, 1);
    let started = Instant::now();
    assert!(matches!(
        idle.recv(),
        Some(Reply::Error(ErrorCode::Timeout, _))
    ));
    // Not sooner than IDLE_TIMEOUT (a lower bound: a slow machine only makes it later).
    assert!(started.elapsed() >= Duration::from_millis(900));
    // Agency 1 again: END, then wait well past the idle timeout for the draw.
    let (mut waiting, reply) = Raw::hello(round.port, 1, b"");
    assert!(matches!(reply, Some(Reply::Welcome { .. })));
    waiting.send(&ClientMessage::End { total: 0 });
    assert_eq!(waiting.recv(), Some(Reply::Ack(0)));
    waiting.send(&ClientMessage::Winners);
    std::thread::sleep(Duration::from_millis(2500));
    let (mut other, reply) = Raw::hello(round.port, 2, b"");
    assert!(matches!(reply, Some(Reply::Welcome { .. })));
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
fn a_peer_that_stops_reading_loses_its_agency_after_the_idle_timeout() {
    let round = Round::start("noread", 1, &[("IDLE_TIMEOUT", "1s"), ("SYNC", "false")]);
    let mut raw = Raw::stingy(round.port);
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
        round.count_in_log("the peer read nothing") == 1
    });
    let (_again, reply) = Raw::hello(round.port, 1, b"");
    assert!(
        matches!(reply, Some(Reply::Welcome { .. })),
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

/// A peer that sends the header of an 8,000-byte frame, then one payload byte every 300 ms
/// while `running` holds.
fn trickle(port: u16, running: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            return;
        };
        if stream.write_all(&SLOW_FRAME_HEADER).is_err() {
            return;
        }
        while running.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(300));
            if stream.write_all(b"x").is_err() {
                return;
            }
        }
    })
}

#[test]
fn slow_bytes_neither_hold_a_session_nor_keep_an_agency_out() {
    let (round, data) = Round::generated(
        "slowbytes",
        1,
        200,
        &[("MAX_SESSIONS", "4"), ("FRAME_TIMEOUT", "2s")],
    );
    // One slow peer alone: its frame has a deadline even though bytes keep coming.
    let mut raw = Raw::connect(round.port);
    raw.send_raw(&SLOW_FRAME_HEADER);
    let started = Instant::now();
    let mut refused = None;
    while started.elapsed() < Duration::from_secs(5) && refused.is_none() {
        std::thread::sleep(Duration::from_millis(300));
        raw.send_raw(b"x");
        raw.stream
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let mut byte = [0u8; 64];
        if let Ok(n) = raw.stream.read(&mut byte) {
            refused = Some((n, started.elapsed()));
        }
    }
    let (_, after) = refused.expect("the trickling frame was cut");
    assert!(after < Duration::from_secs(4), "cut after {after:?}");
    assert_eq!(
        round.count_in_log("not whole within 2000 ms"),
        1,
        "{}",
        round.logs()
    );

    // Twice MAX_SESSIONS slow peers, then an honest agency with a 3 s retry window.
    let running = Arc::new(AtomicBool::new(true));
    let peers: Vec<_> = (0..8)
        .map(|_| trickle(round.port, running.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let (status, log) = run_client(
        &round.address(),
        1,
        &data.file(1),
        &[("CLI_RETRY_TIMEOUT", "3s")],
    );
    running.store(false, Ordering::Relaxed);
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

/// `AgencyBusy` is retried but is not progress: a client kept out by a live session retries until
/// its window closes, then gives up (exit 1), neither sooner nor forever.
#[test]
fn agency_busy_is_retried_until_the_window_closes_and_is_not_progress() {
    let (round, data) = Round::generated("busywindow", 1, 50, &[]);
    let _holder = Raw::new_agency(round.port, 1);
    let started = Instant::now();
    let (status, log) = run_client(
        &round.address(),
        1,
        &data.file(1),
        &[("CLI_RETRY_TIMEOUT", "3s")],
    );
    let took = started.elapsed();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        took >= Duration::from_secs(3),
        "gave up after {took:?}: {log}"
    );
    assert!(
        took < Duration::from_secs(10),
        "kept retrying for {took:?}: {log}"
    );
    let refusals = log.matches("AgencyBusy").count();
    assert!(refusals >= 3, "retried {refusals} times: {log}");
    assert!(log.contains("gave up after"), "{log}");
}
