//! The decoder on random and mutated bytes: no panic, and whatever decodes re-encodes to the same
//! bytes (a long run of it is `make reliability`'s property run).

use super::*;

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
