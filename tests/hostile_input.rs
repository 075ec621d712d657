//! Bad input hurts no one: every kind of bad frame gets an ERROR with its own code and its
//! connection closes while an honest agency beside it stores its file byte for byte; names with
//! commas, quotes, accents and line breaks round-trip; an over-long echo line and an agency file
//! that ends inside quotes are clear errors, not hangs.
//!
//! Each test prints one `reliability:` row for `docs/reliability.md` (`make reliability`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use tp0::protocol::{ClientMessage, ErrorCode, MAGIC};

/// One bad input: what it is, the frames it sends, and the error code the server must answer.
struct Hostile {
    what: &'static str,
    frames: Vec<Vec<u8>>,
    code: ErrorCode,
}

fn hostile(what: &'static str, code: ErrorCode, frames: Vec<Vec<u8>>) -> Hostile {
    Hostile { what, frames, code }
}

fn hello(agency: u32) -> Vec<u8> {
    frame_of(&ClientMessage::Hello {
        agency,
        secret: b"",
    })
}

/// `frame` with the bytes `with` written `offset` bytes after the first `find` in it.
fn broken(mut frame: Vec<u8>, find: &[u8], offset: usize, with: &[u8]) -> Vec<u8> {
    let at = frame
        .windows(find.len())
        .position(|window| window == find)
        .unwrap()
        + offset;
    frame[at..at + with.len()].copy_from_slice(with);
    frame
}

/// Every kind of bad frame the server must refuse, each with the code it must refuse it with.
fn hostile_inputs() -> Vec<Hostile> {
    use ErrorCode::*;
    // A valid two-bet batch whose count field (bytes 12-13, after the 4-byte header and the
    // 8-byte start) says three.
    let mut wrong_count = batch(0, 2, 1, "1");
    wrong_count[13] = 3;
    vec![
        hostile(
            "oversized length",
            Malformed,
            vec![vec![MAGIC, 0x02, 0xFF, 0xFF]],
        ),
        hostile("unknown kind", Malformed, vec![vec![MAGIC, 0x42, 0, 0]]),
        hostile(
            "truncated hello",
            Malformed,
            vec![vec![MAGIC, 0x01, 0, 3, 0, 0, 0]],
        ),
        hostile("agency out of range", BadAgency, vec![hello(99)]),
        hostile("agency zero", BadAgency, vec![hello(0)]),
        hostile("bets before hello", BadAgency, vec![batch(0, 1, 1, "1")]),
        hostile(
            "bad date",
            InvalidBet,
            vec![
                hello(2),
                broken(batch(0, 1, 1, "1"), b"2000-01-01", 5, b"13"),
            ],
        ),
        hostile(
            "number out of range",
            InvalidBet,
            vec![hello(2), batch(0, 1, 1, "10000")],
        ),
        hostile(
            "invalid UTF-8",
            InvalidBet,
            vec![
                hello(2),
                broken(batch(0, 1, 1, "1"), b"Ana", 0, &[0xC3, 0x28]),
            ],
        ),
        hostile(
            "batch from the future",
            PositionMismatch,
            vec![hello(2), batch(5, 1, 1, "1")],
        ),
        hostile("wrong field count", Malformed, vec![hello(2), wrong_count]),
        hostile(
            "END with a wrong total",
            CountMismatch,
            vec![hello(2), frame_of(&ClientMessage::End { total: 7 })],
        ),
    ]
}

/// Sends `case` on a new connection: `Err` says what went wrong unless the server answered with
/// the case's error code (after any WELCOME or ACK) and then closed the connection.
fn refusal(port: u16, case: &Hostile) -> Result<(), String> {
    let what = case.what;
    let mut raw = Raw::connect(port);
    for frame in &case.frames {
        raw.send_raw(frame);
    }
    loop {
        match raw.try_recv() {
            Ok(Some(Reply::Error(got, _))) if got == case.code => break,
            Ok(Some(Reply::Error(got, text))) => {
                return Err(format!(
                    "{what}: expected {:?}, got {got:?}: {text}",
                    case.code
                ))
            }
            Ok(Some(Reply::Welcome { .. } | Reply::Ack(_))) => continue,
            other => return Err(format!("{what}: expected {:?}, got {other:?}", case.code)),
        }
    }
    if !raw.closed() {
        return Err(format!("{what}: the connection closes after the error"));
    }
    Ok(())
}

/// 50 connections, each a HELLO and then a MAGIC byte and 64 seeded random bytes: whatever the
/// server makes of them, every frame it answers with is one the client's codec reads.
fn garbage_after_hello(port: u16) {
    let mut random = XorShift::new(0x2545_F491_4F6C_DD1D);
    for _ in 0..50 {
        let mut garbage = vec![MAGIC];
        garbage.extend((0..64).map(|_| random.next_u64() as u8));
        let mut raw = Raw::connect(port);
        raw.send_raw(&hello(2));
        raw.send_raw(&garbage);
        while let Some(reply) = raw.recv() {
            if matches!(reply, Reply::Error(..)) {
                break;
            }
        }
    }
}

/// An honest agency uploads while hostile peers send every kind of bad input.
#[test]
fn hostile_bytes_get_error_replies_while_an_honest_agency_finishes() {
    let (mut round, data) = Round::generated("hostile", 2, 20_000, &[]);
    let honest = spawn_client(&round.address(), 1, &data.file(1), &[]);
    let failures: Vec<String> = hostile_inputs()
        .iter()
        .filter_map(|case| refusal(round.port, case).err())
        .collect();
    assert!(failures.is_empty(), "cases that failed: {failures:#?}");
    garbage_after_hello(round.port);
    // Agency 2 sends nothing valid; the honest agency 1 must still finish once 2 ends.
    let mut two = Raw::new_agency(round.port, 2);
    two.send(&ClientMessage::End { total: 0 });
    assert_eq!(two.recv(), Some(Reply::Ack(0)));
    // Bets after END are refused, and nothing of them is stored.
    two.send_raw(&batch(0, 1, 1, "1"));
    assert!(matches!(
        two.recv(),
        Some(Reply::Error(ErrorCode::AlreadyEnded, _))
    ));
    finished_with_winners(honest, data.winners[0], "the honest agency");
    let stored = std::fs::read(round.bets()).unwrap();
    assert_eq!(
        stored,
        std::fs::read(data.file(1))
            .unwrap()
            .split_inclusive(|&b| b == b'\n')
            .flat_map(|row| [b"1,".as_slice(), row].concat())
            .collect::<Vec<u8>>()
    );
    assert!(round.terminate().success());
    evidence("malformed, oversized, truncated frames; bad agency, date, number, UTF-8, counts; garbage; bets after END", "raw sockets beside an honest agency", "an ERROR with the right code, that connection closed, the honest agency stored byte-identical with its winners");
}

#[test]
fn names_with_commas_quotes_accents_and_line_breaks_round_trip() {
    let round = Round::start("names", 1, &[]);
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
    let file = round.scratch.write("agency.csv", &csv);
    let log = run_client_ok(&round.address(), 1, file.as_ref(), &[]);
    assert_winners(&log, 5, "every name is a winner");
    let stored = std::fs::read(round.bets()).unwrap();
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

#[test]
fn an_echo_line_longer_than_8_kib_is_refused_without_harm() {
    let round = Round::start("longline", 1, &[]);
    let mut stream = TcpStream::connect(("127.0.0.1", round.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(&vec![b'a'; 20_000]);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    assert!(reply.is_empty());
    assert_eq!(round.count_in_log("line longer than 8192 bytes"), 1);
    evidence(
        "an echo line over 8 kB",
        "20,000 bytes without a newline",
        "closed without a reply, logged",
    );
}

#[test]
fn an_agency_file_ending_inside_quotes_is_a_clear_error_not_a_hang() {
    let round = Round::start("badcsv", 1, &[]);
    let data = round.scratch.write(
        "agency-1.csv",
        "Ana,Perez,1,2000-01-01,7574\r\nBo,\"Diaz,2,2000-01-01,1\r\n",
    );
    let mut client = spawn_client(&round.address(), 1, data.as_ref(), &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = client.kill();
            panic!("the client hung on a file that ends inside quotes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = client.wait_with_output();
    let log = output.log();
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(
        log.contains("agency-1.csv | row: 2 | reason: the file ends inside a quoted field"),
        "{log}"
    );
    evidence(
        "an agency file that ends inside a quoted field",
        "a row with an opening quote that is never closed",
        "the client stops with an error naming the file and row, exit 1 (no hang)",
    );
}
