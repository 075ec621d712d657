//! The frame decoder on arbitrary bytes: it never panics, and whatever decodes re-encodes to the
//! very bytes it came from (the codec has one encoding per message, so nothing is lost).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tp0::domain::Bet;
use tp0::protocol::{decode, encode, frame_len, Decoded, Message, MAX_FRAME_LEN};

fuzz_target!(|data: &[u8]| {
    let header = frame_len(data);
    let Ok(Decoded::Frame(message, used)) = decode(data) else {
        return;
    };
    assert!(used <= data.len() && used <= MAX_FRAME_LEN);
    // The header check and the full decode agree on the frame's length.
    assert_eq!(header, Ok(Some(used)));
    let mut again = Vec::new();
    assert!(encode(&message, &mut again).is_ok(), "{message:?}");
    assert_eq!(again, data[..used], "re-encoding reproduces the frame");
    // The lazy views yield exactly the announced count (decode checked their layout).
    match message {
        Message::Bets { bets, .. } => {
            assert_eq!(bets.iter().count(), bets.len());
            for raw in bets.iter() {
                let _ = Bet::validate(&raw);
            }
        }
        Message::WinnerList { documents, .. } => {
            assert_eq!(documents.iter().count(), documents.len());
        }
        Message::Bet { bet, .. } => {
            let _ = Bet::validate(&bet);
        }
        _ => {}
    }
});
