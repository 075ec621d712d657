//! Input that is not a frame, or not yet one: every fault is a typed error, never a panic, and
//! a prefix is `Incomplete`.

use super::*;

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
