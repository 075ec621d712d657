//! The wire protocol: frames to bytes and back, nothing else.
//!
//! Every frame is a 4-byte header — `0xFF`, the message kind, the payload length as a big-endian
//! `u16` — followed by at most [`MAX_PAYLOAD_LEN`] bytes, so no frame exceeds 8,192 bytes. `0xFF`
//! never occurs in UTF-8 text, which is how one port serves both this protocol and the echo of
//! exercise 3: a connection whose first byte is anything else is a text line to echo.
//!
//! Each direction has its own type, [`ClientMessage`] and [`ServerMessage`], both behind [`Frame`]:
//! the server decodes only what clients send, a client only what the server sends, and a frame
//! of the wrong direction is a [`CodecError`]. Decoding borrows from the input and allocates nothing; its "not enough bytes yet" is the
//! [`Decoded::Incomplete`] outcome, not an error. Every structural rule (known kind, exact field
//! layout, no leftover bytes) is checked here; what the fields *mean* (a valid date, an agency in
//! range) is the domain's business. `docs/protocol.md` lists every byte.

use std::fmt;

pub use crate::domain::RawBet;

mod batch;
mod decoding;
mod encoding;
mod error_code;
mod views;

pub use batch::BatchBuilder;
pub use decoding::frame_len;
pub use encoding::{encode_winners, encoded_bet_len};
pub use error_code::ErrorCode;
pub use views::{Bets, BetsIter, Documents};

/// First byte of every binary frame; never the first byte of a UTF-8 text line.
pub const MAGIC: u8 = 0xFF;
/// Bytes in a frame header: magic, kind, big-endian `u16` payload length.
pub const HEADER_LEN: usize = 4;
/// The largest frame on the wire, header included.
pub const MAX_FRAME_LEN: usize = 8192;
/// The largest payload a frame may carry.
pub const MAX_PAYLOAD_LEN: usize = MAX_FRAME_LEN - HEADER_LEN;
/// Bytes before the bets in a `BETS` payload: start position `u64` and count `u16`.
pub const BATCH_PREFIX_LEN: usize = 10;
/// Largest text field (names, documents, error text): its length travels in one byte.
pub const MAX_FIELD_LEN: usize = 255;

/// Message kinds, the second header byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Client: "I am agency N" (+ optional secret).
    Hello = 0x01,
    /// Client: a batch of bets starting at a position.
    Bets = 0x02,
    /// Client: a single bet (exercise 5).
    Bet = 0x03,
    /// Client: "I sent `total` bets, that is all".
    End = 0x04,
    /// Client: "tell me my winners".
    Winners = 0x05,
    /// Server: the agency is yours; resume at `position`.
    Welcome = 0x81,
    /// Server: everything up to `position` is stored.
    Ack = 0x82,
    /// Server: one part of the winners' documents.
    WinnerList = 0x84,
    /// Server: what the draw read of the agency's bets (count and digest), before its winners.
    Receipt = 0x85,
    /// Server: a refusal with a code and a text.
    Error = 0x8F,
}

impl Kind {
    /// Whether clients send this kind (kinds below `0x80`); the server sends the others.
    pub fn from_client(self) -> bool {
        (self as u8) < 0x80
    }

    fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            0x01 => Kind::Hello,
            0x02 => Kind::Bets,
            0x03 => Kind::Bet,
            0x04 => Kind::End,
            0x05 => Kind::Winners,
            0x81 => Kind::Welcome,
            0x82 => Kind::Ack,
            0x84 => Kind::WinnerList,
            0x85 => Kind::Receipt,
            0x8F => Kind::Error,
            _ => return None,
        })
    }
}

/// What a client sends: the only messages the server decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMessage<'a> {
    /// The agency introduces itself; `secret` is empty when secrets are off.
    Hello {
        /// Agency number.
        agency: u32,
        /// Shared secret, possibly empty.
        secret: &'a [u8],
    },
    /// A batch of bets that starts at the agency's bet number `start` (0-based).
    Bets {
        /// Position of the first bet in the agency's stream.
        start: u64,
        /// The bets.
        bets: Bets<'a>,
    },
    /// One bet (exercise 5) at position `start`.
    Bet {
        /// Position of the bet in the agency's stream.
        start: u64,
        /// The bet.
        bet: RawBet<'a>,
    },
    /// The agency sent `total` bets and is done.
    End {
        /// Bets sent in all.
        total: u64,
    },
    /// The agency asks for its winners.
    Winners,
}

/// What the server sends: the only messages a client decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMessage<'a> {
    /// The agency is claimed; uploads resume at `position`.
    Welcome {
        /// Bets of the agency already stored.
        position: u64,
        /// Whether the agency already sent END.
        ended: bool,
    },
    /// Everything up to `position` is stored (durably, with `SYNC` on).
    Ack {
        /// Bets of the agency stored.
        position: u64,
    },
    /// A part of the winners list: `total` documents in all, these in this frame.
    WinnerList {
        /// Winners in all, across parts.
        total: u32,
        /// The documents in this part.
        documents: Documents<'a>,
    },
    /// The agency's receipt: how many of its bets the draw read, and their digest (SHA-256 of
    /// their canonical encodings, `domain::Receipt`). Sent before the winners list.
    Receipt {
        /// Bets of the agency the draw read.
        count: u64,
        /// Their digest.
        digest: [u8; 32],
    },
    /// A refusal.
    Error {
        /// Why.
        code: ErrorCode,
        /// Human-readable detail.
        text: &'a str,
    },
}

/// The messages of one direction: what the codec decodes a frame into and encodes back.
pub trait Frame<'a>: Sized {
    /// Decodes the first frame in `buf`, borrowing from it.
    ///
    /// # Errors
    /// Any structural fault, a frame of the other direction included: see [`CodecError`].
    fn decode(buf: &'a [u8]) -> Result<Decoded<Self>, CodecError>;

    /// Appends this message's frame to `out`.
    ///
    /// # Errors
    /// [`CodecError::Oversized`] when a field exceeds 255 bytes or the payload exceeds the frame
    /// limit; `out` is left as it was.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError>;
}

/// Decodes the first frame in `buf` as a message of direction `M` ([`Frame::decode`], for call
/// sites where the type is inferred).
///
/// # Errors
/// As [`Frame::decode`].
pub fn decode<'a, M: Frame<'a>>(buf: &'a [u8]) -> Result<Decoded<M>, CodecError> {
    M::decode(buf)
}

/// Appends the frame of `message` to `out` ([`Frame::encode`] as a function).
///
/// # Errors
/// As [`Frame::encode`].
pub fn encode<'a, M: Frame<'a>>(message: &M, out: &mut Vec<u8>) -> Result<(), CodecError> {
    message.encode(out)
}

/// The outcome of decoding from a buffer that may hold a partial frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<M> {
    /// More bytes are needed; nothing was consumed.
    Incomplete,
    /// A frame and the number of bytes it used.
    Frame(M, usize),
}

/// Why bytes are not a valid frame. Any of these ends the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The first byte is not [`MAGIC`].
    BadMagic(u8),
    /// The kind byte is unknown.
    UnknownKind(u8),
    /// The header announces more than [`MAX_PAYLOAD_LEN`] bytes.
    TooLong(usize),
    /// The payload ends before its fields do.
    Truncated(Kind),
    /// The payload has bytes after its last field.
    TrailingBytes(Kind, usize),
    /// A text field is not UTF-8.
    InvalidUtf8(Kind),
    /// A yes/no byte is neither 0 nor 1.
    InvalidFlag(Kind, u8),
    /// A well-formed frame of the other direction (a server message sent by a client, or the
    /// reverse).
    WrongDirection(Kind),
    /// A field or frame would not fit the limits when encoding.
    Oversized(&'static str),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::BadMagic(b) => write!(f, "frame starts with 0x{b:02x}, not 0xff"),
            CodecError::UnknownKind(b) => write!(f, "unknown message kind 0x{b:02x}"),
            CodecError::TooLong(n) => {
                write!(f, "payload of {n} bytes exceeds {MAX_PAYLOAD_LEN}")
            }
            CodecError::Truncated(k) => write!(f, "{k:?} payload ends before its fields"),
            CodecError::TrailingBytes(k, n) => write!(f, "{k:?} payload has {n} extra bytes"),
            CodecError::InvalidUtf8(k) => write!(f, "{k:?} text field is not UTF-8"),
            CodecError::InvalidFlag(k, b) => write!(f, "{k:?} flag is 0x{b:02x}, not 0 or 1"),
            CodecError::WrongDirection(k) if k.from_client() => {
                write!(f, "{k:?} is a client message, sent by the server")
            }
            CodecError::WrongDirection(k) => {
                write!(f, "{k:?} is a server message, sent by a client")
            }
            CodecError::Oversized(what) => write!(f, "{what} does not fit in a frame"),
        }
    }
}

impl std::error::Error for CodecError {}

#[cfg(test)]
mod tests;
