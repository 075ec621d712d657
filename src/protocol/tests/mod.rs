//! The codec's tests: exact bytes and round trips of every kind here; malformed and incomplete
//! input in `faults`; random and mutated input in `property`.

mod faults;
mod property;

use super::*;
use std::fmt;

pub(super) fn bet<'a>(first: &'a str, doc: &'a str, number: &'a str) -> RawBet<'a> {
    RawBet {
        first_name: first.as_bytes(),
        last_name: b"Lorca",
        document: doc.as_bytes(),
        birthdate: b"1999-03-17",
        number: number.as_bytes(),
    }
}

pub(super) fn one<'a, M: Frame<'a> + fmt::Debug>(buf: &'a [u8]) -> M {
    match M::decode(buf) {
        Ok(Decoded::Frame(message, used)) => {
            assert_eq!(used, buf.len(), "the whole frame is used");
            message
        }
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[test]
fn hello_has_exact_bytes_and_round_trips() {
    let mut out = Vec::new();
    encode(
        &ClientMessage::Hello {
            agency: 3,
            secret: b"s3",
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out, [0xFF, 0x01, 0, 7, 0, 0, 0, 3, 2, b's', b'3']);
    assert_eq!(
        one::<ClientMessage<'_>>(&out),
        ClientMessage::Hello {
            agency: 3,
            secret: b"s3"
        }
    );
}

#[test]
fn ack_welcome_end_winners_query_round_trip() {
    for message in [
        ServerMessage::Ack { position: 1 << 40 },
        ServerMessage::Welcome {
            position: 7,
            ended: true,
        },
        ServerMessage::Error {
            code: ErrorCode::AgencyBusy,
            text: "agencia 1 ocupada",
        },
    ] {
        let mut out = Vec::new();
        message.encode(&mut out).unwrap();
        assert_eq!(one::<ServerMessage<'_>>(&out), message);
    }
    for message in [ClientMessage::End { total: 78_697 }, ClientMessage::Winners] {
        let mut out = Vec::new();
        message.encode(&mut out).unwrap();
        assert_eq!(one::<ClientMessage<'_>>(&out), message);
    }
    let mut out = Vec::new();
    encode(&ClientMessage::End { total: 258 }, &mut out).unwrap();
    assert_eq!(out, [0xFF, 0x04, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2]);
}

#[test]
fn receipt_has_exact_bytes_and_its_layout_is_checked() {
    let mut digest = [0u8; 32];
    digest.iter_mut().zip(0u8..).for_each(|(b, i)| *b = i);
    let receipt = ServerMessage::Receipt { count: 258, digest };
    let mut out = Vec::new();
    receipt.encode(&mut out).unwrap();
    let mut expected = vec![0xFF, 0x85, 0, 40, 0, 0, 0, 0, 0, 0, 1, 2];
    expected.extend(0u8..32);
    assert_eq!(out, expected);
    assert_eq!(one::<ServerMessage<'_>>(&out), receipt);
    let mut short = out[..out.len() - 1].to_vec();
    short[3] = 39;
    assert_eq!(
        decode::<ServerMessage<'_>>(&short),
        Err(CodecError::Truncated(Kind::Receipt))
    );
    let mut long = out.clone();
    long.push(0);
    long[3] = 41;
    assert_eq!(
        decode::<ServerMessage<'_>>(&long),
        Err(CodecError::TrailingBytes(Kind::Receipt, 1))
    );
    assert_eq!(
        decode::<ClientMessage<'_>>(&out),
        Err(CodecError::WrongDirection(Kind::Receipt))
    );
}

#[test]
fn batch_builder_frames_decode_to_the_same_bets() {
    let mut builder = BatchBuilder::new(10);
    builder.reset(41);
    let bets = [
        bet("Santiago Lionel", "30904465", "7574"),
        bet("Tiago Nicolás", "1", "0"),
    ];
    for b in &bets {
        assert!(builder.push(b).unwrap());
    }
    let frame = builder.frame().unwrap().to_vec();
    assert_eq!(&frame[..4], &[0xFF, 0x02, 0, (frame.len() - 4) as u8]);
    assert_eq!(&frame[4..14], &[0, 0, 0, 0, 0, 0, 0, 41, 0, 2]);
    match one(&frame) {
        ClientMessage::Bets { start, bets: got } => {
            assert_eq!(start, 41);
            assert_eq!(got.iter().collect::<Vec<_>>(), bets.to_vec());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn batch_builder_never_exceeds_8_kib_nor_its_count() {
    let long = "x".repeat(250);
    let big = RawBet {
        first_name: long.as_bytes(),
        last_name: long.as_bytes(),
        document: b"12345678",
        birthdate: b"2000-01-01",
        number: b"1",
    };
    let mut builder = BatchBuilder::new(u16::MAX);
    let mut pushed = 0;
    while builder.push(&big).unwrap() {
        pushed += 1;
    }
    assert!(pushed > 0);
    assert!(builder.frame().unwrap().len() <= MAX_FRAME_LEN);
    let mut small = BatchBuilder::new(3);
    for _ in 0..3 {
        assert!(small.push(&bet("A", "1", "1")).unwrap());
    }
    assert!(
        !small.push(&bet("A", "1", "1")).unwrap(),
        "the count limit holds"
    );
    let huge = "y".repeat(300);
    let bad = RawBet {
        first_name: huge.as_bytes(),
        ..big
    };
    assert!(matches!(
        BatchBuilder::new(1).push(&bad),
        Err(CodecError::Oversized(_))
    ));
}

#[test]
fn winners_split_across_frames_and_reassemble() {
    let docs: Vec<String> = (0..2000)
        .map(|i| format!("{:08}", 30_000_000 + i))
        .collect();
    let mut out = Vec::new();
    encode_winners(&docs, &mut out).unwrap();
    let mut got = Vec::new();
    let mut rest = &out[..];
    let mut frames = 0;
    while !rest.is_empty() {
        let Ok(Decoded::Frame(ServerMessage::WinnerList { total, documents }, used)) = decode(rest)
        else {
            panic!("bad winners frame");
        };
        assert!(used <= MAX_FRAME_LEN);
        assert_eq!(total, 2000);
        got.extend(documents.iter().map(str::to_owned));
        rest = &rest[used..];
        frames += 1;
    }
    assert!(frames > 1);
    assert_eq!(got, docs);
    let mut empty = Vec::new();
    encode_winners::<&str>(&[], &mut empty).unwrap();
    assert_eq!(empty, [0xFF, 0x84, 0, 6, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn welcome_ended_is_0_or_1_and_nothing_else() {
    let welcome = |flag: u8| [0xFF, 0x81, 0, 9, 0, 0, 0, 0, 0, 0, 0, 7, flag];
    assert_eq!(
        one::<ServerMessage<'_>>(&welcome(0)),
        ServerMessage::Welcome {
            position: 7,
            ended: false
        }
    );
    assert_eq!(
        one::<ServerMessage<'_>>(&welcome(1)),
        ServerMessage::Welcome {
            position: 7,
            ended: true
        }
    );
    for flag in [2u8, 0x80, 0xFF] {
        assert_eq!(
            decode::<ServerMessage<'_>>(&welcome(flag)).err(),
            Some(CodecError::InvalidFlag(Kind::Welcome, flag))
        );
    }
}

#[test]
fn a_frame_of_the_other_direction_is_refused_by_kind() {
    let mut ack = Vec::new();
    ServerMessage::Ack { position: 3 }.encode(&mut ack).unwrap();
    assert_eq!(
        decode::<ClientMessage<'_>>(&ack),
        Err(CodecError::WrongDirection(Kind::Ack))
    );
    let mut end = Vec::new();
    ClientMessage::End { total: 3 }.encode(&mut end).unwrap();
    assert_eq!(
        decode::<ServerMessage<'_>>(&end),
        Err(CodecError::WrongDirection(Kind::End))
    );
    assert_eq!(
        CodecError::WrongDirection(Kind::Ack).to_string(),
        "Ack is a server message, sent by a client"
    );
}
