//! The frame decoder on arbitrary bytes, in both directions: it never panics, and whatever
//! decodes re-encodes to the very bytes it came from (the codec has one encoding per message, so
//! nothing is lost).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tp0::domain::Bet;
use tp0::protocol::{
    decode, encode, frame_len, ClientMessage, Decoded, Frame, ServerMessage, MAX_FRAME_LEN,
};

/// Decodes `data` as direction `M`; if a frame comes out, checks its length and re-encoding.
fn round_trip<'a, M: Frame<'a> + std::fmt::Debug>(data: &'a [u8]) -> Option<M> {
    let header = frame_len(data);
    let Ok(Decoded::Frame(message, used)) = decode::<M>(data) else {
        return None;
    };
    assert!(used <= data.len() && used <= MAX_FRAME_LEN);
    // The header check and the full decode agree on the frame's length.
    assert_eq!(header, Ok(Some(used)));
    let mut again = Vec::new();
    assert!(encode(&message, &mut again).is_ok(), "{message:?}");
    assert_eq!(again, data[..used], "re-encoding reproduces the frame");
    Some(message)
}

fuzz_target!(|data: &[u8]| {
    // The lazy views yield exactly the announced count (decode checked their layout).
    match round_trip::<ClientMessage<'_>>(data) {
        Some(ClientMessage::Bets { bets, .. }) => {
            assert_eq!(bets.iter().count(), bets.len());
            for raw in bets.iter() {
                let _ = Bet::validate(&raw);
            }
        }
        Some(ClientMessage::Bet { bet, .. }) => {
            let _ = Bet::validate(&bet);
        }
        _ => {}
    }
    if let Some(ServerMessage::WinnerList { documents, .. }) = round_trip::<ServerMessage<'_>>(data) {
        assert_eq!(documents.iter().count(), documents.len());
    }
});
