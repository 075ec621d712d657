use super::*;
use std::fmt;

fn bet<'a>(first: &'a str, doc: &'a str, number: &'a str) -> RawBet<'a> {
    RawBet {
        first_name: first.as_bytes(),
        last_name: b"Lorca",
        document: doc.as_bytes(),
        birthdate: b"1999-03-17",
        number: number.as_bytes(),
    }
}

fn one<'a, M: Frame<'a> + fmt::Debug>(buf: &'a [u8]) -> M {
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
fn every_prefix_of_a_frame_is_incomplete() {
    let mut out = Vec::new();
    encode(
        &ClientMessage::Hello {
            agency: 1,
            secret: b"",
        },
        &mut out,
    )
    .unwrap();
    for cut in 0..out.len() {
        assert_eq!(
            decode::<ClientMessage<'_>>(&out[..cut]),
            Ok(Decoded::Incomplete),
            "prefix {cut}"
        );
    }
}

#[test]
fn header_faults_are_caught_before_the_payload_arrives() {
    assert_eq!(
        decode::<ClientMessage<'_>>(b"hello\n"),
        Err(CodecError::BadMagic(b'h'))
    );
    assert_eq!(
        decode::<ClientMessage<'_>>(&[0xFF, 0x77]),
        Ok(Decoded::Incomplete)
    );
    assert_eq!(
        decode::<ClientMessage<'_>>(&[0xFF, 0x77, 0, 0]),
        Err(CodecError::UnknownKind(0x77))
    );
    assert_eq!(
        decode::<ClientMessage<'_>>(&[0xFF, 0x02, 0x20, 0x00]),
        Err(CodecError::TooLong(8192))
    );
    assert_eq!(
        decode::<ClientMessage<'_>>(&[0xFF, 0x02, 0x1F, 0xFC]),
        Ok(Decoded::Incomplete),
        "8188 is allowed"
    );
}

#[test]
fn layout_faults_are_rejected() {
    // END with 7 bytes instead of 8.
    assert_eq!(
        decode::<ClientMessage<'_>>(&[0xFF, 0x04, 0, 7, 0, 0, 0, 0, 0, 0, 1]),
        Err(CodecError::Truncated(Kind::End))
    );
    // WINNERS query with a stray byte.
    assert_eq!(
        decode::<ClientMessage<'_>>(&[0xFF, 0x05, 0, 1, 9]),
        Err(CodecError::TrailingBytes(Kind::Winners, 1))
    );
    // BETS announcing 2 bets but carrying 1.
    let mut builder = BatchBuilder::new(5);
    builder.push(&bet("A", "1", "2")).unwrap();
    let mut frame = builder.frame().unwrap().to_vec();
    frame[13] = 2;
    assert_eq!(
        decode::<ClientMessage<'_>>(&frame),
        Err(CodecError::Truncated(Kind::Bets))
    );
    // BETS announcing 0 bets but carrying 1: leftover bytes.
    frame[13] = 0;
    assert!(matches!(
        decode::<ClientMessage<'_>>(&frame),
        Err(CodecError::TrailingBytes(Kind::Bets, _))
    ));
    // A single BET cut short is reported as a BET, not a BETS.
    let mut single = Vec::new();
    let one_bet = ClientMessage::Bet {
        start: 0,
        bet: bet("A", "1", "2"),
    };
    one_bet.encode(&mut single).unwrap();
    let short = single.len() - 1;
    single[3] -= 1;
    assert_eq!(
        decode::<ClientMessage<'_>>(&single[..short]),
        Err(CodecError::Truncated(Kind::Bet))
    );
    // A field length pointing past the payload.
    assert_eq!(
        decode::<ClientMessage<'_>>(&[0xFF, 0x01, 0, 5, 0, 0, 0, 1, 9]),
        Err(CodecError::Truncated(Kind::Hello))
    );
    // Error text that is not UTF-8.
    assert_eq!(
        decode::<ServerMessage<'_>>(&[0xFF, 0x8F, 0, 3, 1, 1, 0xC3]),
        Err(CodecError::InvalidUtf8(Kind::Error))
    );
}

#[test]
fn error_text_is_cut_at_a_char_boundary() {
    let text = "ñ".repeat(200);
    let mut out = Vec::new();
    encode(
        &ServerMessage::Error {
            code: ErrorCode::InvalidBet,
            text: &text,
        },
        &mut out,
    )
    .unwrap();
    match one(&out) {
        ServerMessage::Error { code, text } => {
            assert_eq!(code, ErrorCode::InvalidBet);
            assert_eq!(text.len(), 254);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn error_codes_round_trip_through_their_byte() {
    for byte in 0..=255u8 {
        assert_eq!(ErrorCode::from_byte(byte).to_byte(), byte);
    }
}

/// A small deterministic generator so the property runs the same everywhere.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Property: decoding arbitrary bytes, or mutated valid frames, never panics, never reads past
/// the announced frame, and what decodes re-encodes to the same bytes.
#[test]
fn decoding_random_and_mutated_bytes_never_panics_and_round_trips() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut seed_frames = Vec::new();
    let mut builder = BatchBuilder::new(50);
    for i in 0..20 {
        builder
            .push(&bet("Ana María", &format!("{}", 1000 + i), "7574"))
            .unwrap();
    }
    seed_frames.push(builder.frame().unwrap().to_vec());
    for message in [
        ClientMessage::Hello {
            agency: 2,
            secret: b"abc",
        },
        ClientMessage::End { total: 5 },
        ClientMessage::Winners,
    ] {
        let mut out = Vec::new();
        message.encode(&mut out).unwrap();
        seed_frames.push(out);
    }
    let refusal = ServerMessage::Error {
        code: ErrorCode::Malformed,
        text: "x",
    };
    let mut out = Vec::new();
    refusal.encode(&mut out).unwrap();
    seed_frames.push(out);
    let mut out = Vec::new();
    ServerMessage::Receipt {
        count: 3,
        digest: [7; 32],
    }
    .encode(&mut out)
    .unwrap();
    seed_frames.push(out);
    let iterations = std::env::var("TP0_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000u64);
    for i in 0..iterations {
        let mut input = if i % 2 == 0 {
            let len = (rng.next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if let Some(first) = bytes.first_mut() {
                *first = MAGIC;
            }
            bytes
        } else {
            seed_frames[(rng.next() as usize) % seed_frames.len()].clone()
        };
        for _ in 0..(rng.next() % 4) {
            if input.is_empty() {
                break;
            }
            let at = (rng.next() as usize) % input.len();
            match rng.next() % 3 {
                0 => input[at] = rng.next() as u8,
                1 => input.truncate(at),
                _ => input.insert(at, rng.next() as u8),
            }
        }
        // Both directions: whatever decodes re-encodes to the same bytes.
        if let Ok(Decoded::Frame(message, used)) = decode::<ClientMessage<'_>>(&input) {
            assert!(used <= input.len() && used <= MAX_FRAME_LEN);
            let mut again = Vec::new();
            encode(&message, &mut again).unwrap();
            assert_eq!(again, input[..used], "re-encoding reproduces the frame");
        }
        if let Ok(Decoded::Frame(message, used)) = decode::<ServerMessage<'_>>(&input) {
            assert!(used <= input.len() && used <= MAX_FRAME_LEN);
            let mut again = Vec::new();
            encode(&message, &mut again).unwrap();
            assert_eq!(again, input[..used], "re-encoding reproduces the frame");
        }
    }
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
