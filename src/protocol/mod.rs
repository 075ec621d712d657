//! The wire protocol: frames to bytes and back, nothing else.
//!
//! Every frame is a 4-byte header — `0xFF`, the message kind, the payload length as a big-endian
//! `u16` — followed by at most [`MAX_PAYLOAD_LEN`] bytes, so no frame exceeds 8,192 bytes. `0xFF`
//! never occurs in UTF-8 text, which is how one port serves both this protocol and the echo of
//! exercise 3: a connection whose first byte is anything else is a text line to echo.
//!
//! Decoding borrows from the input and allocates nothing; its "not enough bytes yet" is the
//! [`Decoded::Incomplete`] outcome, not an error. Every structural rule (known kind, exact field
//! layout, no leftover bytes) is checked here; what the fields *mean* (a valid date, an agency in
//! range) is the domain's business. `docs/protocol.md` lists every byte.

use std::fmt;

mod batch;

pub use batch::BatchBuilder;

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
    /// Server: a refusal with a code and a text.
    Error = 0x8F,
}

impl Kind {
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
            0x8F => Kind::Error,
            _ => return None,
        })
    }
}

/// Why the server refused something; the first byte of an `ERROR` payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The bytes were not a valid frame (bad kind, length, layout, UTF-8).
    Malformed,
    /// A bet's fields are invalid (date, number, document, names).
    InvalidBet,
    /// The agency id is outside `1..=AGENCIES`, or the first frame was not `HELLO`.
    BadAgency,
    /// Another live connection holds this agency.
    AgencyBusy,
    /// The agency already sent END: no more bets.
    AlreadyEnded,
    /// A batch did not start where the agency's stored bets end.
    PositionMismatch,
    /// The secret is missing or wrong.
    Unauthorized,
    /// The server is at its connection limit.
    ServerBusy,
    /// Storage or coordination failed; retrying later may succeed.
    Unavailable,
    /// END announced a total different from what is stored.
    CountMismatch,
    /// Winners asked before this agency sent END.
    NotEnded,
    /// The server is shutting down.
    ShuttingDown,
    /// The connection was idle for too long.
    Timeout,
    /// A code this build does not know.
    Other(u8),
}

impl ErrorCode {
    /// The code's byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::InvalidBet => 2,
            ErrorCode::BadAgency => 3,
            ErrorCode::AgencyBusy => 4,
            ErrorCode::AlreadyEnded => 5,
            ErrorCode::PositionMismatch => 6,
            ErrorCode::Unauthorized => 7,
            ErrorCode::ServerBusy => 8,
            ErrorCode::Unavailable => 9,
            ErrorCode::CountMismatch => 10,
            ErrorCode::NotEnded => 11,
            ErrorCode::ShuttingDown => 12,
            ErrorCode::Timeout => 13,
            ErrorCode::Other(byte) => byte,
        }
    }

    /// The code for a byte received.
    pub fn from_byte(byte: u8) -> ErrorCode {
        match byte {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::InvalidBet,
            3 => ErrorCode::BadAgency,
            4 => ErrorCode::AgencyBusy,
            5 => ErrorCode::AlreadyEnded,
            6 => ErrorCode::PositionMismatch,
            7 => ErrorCode::Unauthorized,
            8 => ErrorCode::ServerBusy,
            9 => ErrorCode::Unavailable,
            10 => ErrorCode::CountMismatch,
            11 => ErrorCode::NotEnded,
            12 => ErrorCode::ShuttingDown,
            13 => ErrorCode::Timeout,
            other => ErrorCode::Other(other),
        }
    }

    /// Whether a client may reconnect and try again after this refusal.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::AgencyBusy
                | ErrorCode::ServerBusy
                | ErrorCode::Unavailable
                | ErrorCode::ShuttingDown
                | ErrorCode::Timeout
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::Other(byte) => write!(f, "code {byte}"),
            known => write!(f, "{known:?}"),
        }
    }
}

/// One bet as it travels: five length-prefixed text fields, not yet validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawBet<'a> {
    /// Nombre.
    pub first_name: &'a [u8],
    /// Apellido.
    pub last_name: &'a [u8],
    /// Documento (DNI).
    pub document: &'a [u8],
    /// Nacimiento, `YYYY-MM-DD`.
    pub birthdate: &'a [u8],
    /// Número apostado.
    pub number: &'a [u8],
}

/// The bets of a `BETS` frame, checked for layout and read lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bets<'a> {
    count: u16,
    bytes: &'a [u8],
}

impl<'a> Bets<'a> {
    /// How many bets the frame carries.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the frame carries no bets.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The bets in order.
    pub fn iter(&self) -> BetsIter<'a> {
        BetsIter {
            rest: self.bytes,
            left: self.count,
        }
    }
}

/// Iterator over the bets of a frame whose layout was already checked.
pub struct BetsIter<'a> {
    rest: &'a [u8],
    left: u16,
}

impl<'a> Iterator for BetsIter<'a> {
    type Item = RawBet<'a>;

    fn next(&mut self) -> Option<RawBet<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut cursor = Cursor::new(self.rest);
        // The layout was validated by `decode`, so these reads cannot fail; `ok()?` keeps the
        // iterator total anyway.
        let bet = read_bet(&mut cursor, Kind::Bets).ok()?;
        self.rest = cursor.rest();
        Some(bet)
    }
}

/// Documents in a `WINNERS` frame, read lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Documents<'a> {
    count: u16,
    bytes: &'a [u8],
}

impl<'a> Documents<'a> {
    /// How many documents this frame carries.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether this frame carries none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The documents, as UTF-8 text checked by `decode`.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut cursor = Cursor::new(self.bytes);
        (0..self.count).filter_map(move |_| cursor.text().ok())
    }
}

/// A decoded frame, borrowing its bytes from the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
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
    /// A refusal.
    Error {
        /// Why.
        code: ErrorCode,
        /// Human-readable detail.
        text: &'a str,
    },
}

/// The outcome of decoding from a buffer that may hold a partial frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// More bytes are needed; nothing was consumed.
    Incomplete,
    /// A frame and the number of bytes it used.
    Frame(Message<'a>, usize),
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
            CodecError::Oversized(what) => write!(f, "{what} does not fit in a frame"),
        }
    }
}

impl std::error::Error for CodecError {}

/// Checks the header and returns the whole frame length once enough bytes are present.
///
/// # Errors
/// A bad magic byte, an unknown kind or an oversized length, all detected from the 4-byte header
/// before any payload is awaited.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, CodecError> {
    if let Some(&first) = buf.first() {
        if first != MAGIC {
            return Err(CodecError::BadMagic(first));
        }
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    if Kind::from_byte(buf[1]).is_none() {
        return Err(CodecError::UnknownKind(buf[1]));
    }
    let payload = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if payload > MAX_PAYLOAD_LEN {
        return Err(CodecError::TooLong(payload));
    }
    let total = HEADER_LEN + payload;
    Ok((buf.len() >= total).then_some(total))
}

/// Decodes the first frame in `buf`.
///
/// # Errors
/// Any structural fault: see [`CodecError`].
pub fn decode(buf: &[u8]) -> Result<Decoded<'_>, CodecError> {
    let Some(total) = frame_len(buf)? else {
        return Ok(Decoded::Incomplete);
    };
    let kind = Kind::from_byte(buf[1]).ok_or(CodecError::UnknownKind(buf[1]))?;
    let mut c = Cursor::new(&buf[HEADER_LEN..total]);
    let message = match kind {
        Kind::Hello => Message::Hello {
            agency: c.u32(kind)?,
            secret: c.field(kind)?,
        },
        Kind::Bets => {
            let start = c.u64(kind)?;
            let count = c.u16(kind)?;
            let bytes = c.rest();
            for _ in 0..count {
                read_bet(&mut c, kind)?;
            }
            let used = bytes.len() - c.rest().len();
            Message::Bets {
                start,
                bets: Bets {
                    count,
                    bytes: &bytes[..used],
                },
            }
        }
        Kind::Bet => Message::Bet {
            start: c.u64(kind)?,
            bet: read_bet(&mut c, kind)?,
        },
        Kind::End => Message::End {
            total: c.u64(kind)?,
        },
        Kind::Winners => Message::Winners,
        Kind::Welcome => Message::Welcome {
            position: c.u64(kind)?,
            ended: c.u8(kind)? != 0,
        },
        Kind::Ack => Message::Ack {
            position: c.u64(kind)?,
        },
        Kind::WinnerList => {
            let total = c.u32(kind)?;
            let count = c.u16(kind)?;
            let bytes = c.rest();
            for _ in 0..count {
                c.text().map_err(|_| CodecError::InvalidUtf8(kind))?;
            }
            let used = bytes.len() - c.rest().len();
            Message::WinnerList {
                total,
                documents: Documents {
                    count,
                    bytes: &bytes[..used],
                },
            }
        }
        Kind::Error => Message::Error {
            code: ErrorCode::from_byte(c.u8(kind)?),
            text: std::str::from_utf8(c.field(kind)?).map_err(|_| CodecError::InvalidUtf8(kind))?,
        },
    };
    if !c.rest().is_empty() {
        return Err(CodecError::TrailingBytes(kind, c.rest().len()));
    }
    Ok(Decoded::Frame(message, total))
}

fn read_bet<'a>(c: &mut Cursor<'a>, kind: Kind) -> Result<RawBet<'a>, CodecError> {
    Ok(RawBet {
        first_name: c.field(kind)?,
        last_name: c.field(kind)?,
        document: c.field(kind)?,
        birthdate: c.field(kind)?,
        number: c.field(kind)?,
    })
}

/// Appends the encoding of `message` to `out`.
///
/// # Errors
/// [`CodecError::Oversized`] when a field exceeds 255 bytes or the payload exceeds the frame limit;
/// `out` is left as it was.
pub fn encode(message: &Message<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    let result = encode_inner(message, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_inner(message: &Message<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    let kind = match message {
        Message::Hello { .. } => Kind::Hello,
        Message::Bets { .. } => Kind::Bets,
        Message::Bet { .. } => Kind::Bet,
        Message::End { .. } => Kind::End,
        Message::Winners => Kind::Winners,
        Message::Welcome { .. } => Kind::Welcome,
        Message::Ack { .. } => Kind::Ack,
        Message::WinnerList { .. } => Kind::WinnerList,
        Message::Error { .. } => Kind::Error,
    };
    out.extend_from_slice(&[MAGIC, kind as u8, 0, 0]);
    match message {
        Message::Hello { agency, secret } => {
            out.extend_from_slice(&agency.to_be_bytes());
            put_field(out, secret)?;
        }
        Message::Bets { start, bets } => {
            out.extend_from_slice(&start.to_be_bytes());
            out.extend_from_slice(&bets.count.to_be_bytes());
            out.extend_from_slice(bets.bytes);
        }
        Message::Bet { start, bet } => {
            out.extend_from_slice(&start.to_be_bytes());
            put_bet(out, bet)?;
        }
        Message::End { total } => out.extend_from_slice(&total.to_be_bytes()),
        Message::Winners => {}
        Message::Welcome { position, ended } => {
            out.extend_from_slice(&position.to_be_bytes());
            out.push(u8::from(*ended));
        }
        Message::Ack { position } => out.extend_from_slice(&position.to_be_bytes()),
        Message::WinnerList { total, documents } => {
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&documents.count.to_be_bytes());
            out.extend_from_slice(documents.bytes);
        }
        Message::Error { code, text } => {
            out.push(code.to_byte());
            put_field(out, truncate_utf8(text, MAX_FIELD_LEN).as_bytes())?;
        }
    }
    finish_frame(out, start)
}

/// Encodes a single-bet frame (exercise 5).
///
/// # Errors
/// [`CodecError::Oversized`] when a field exceeds 255 bytes.
pub fn encode_bet(start: u64, bet: &RawBet<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    encode(&Message::Bet { start, bet: *bet }, out)
}

/// Encodes `documents` as as many `WINNERS` frames as needed (at least one, even when empty).
///
/// # Errors
/// [`CodecError::Oversized`] when a document exceeds 255 bytes or there are more than `u32::MAX`.
pub fn encode_winners<S: AsRef<str>>(documents: &[S], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let total = u32::try_from(documents.len()).map_err(|_| CodecError::Oversized("winners"))?;
    let mut rest = documents;
    loop {
        let start = out.len();
        out.extend_from_slice(&[MAGIC, Kind::WinnerList as u8, 0, 0]);
        out.extend_from_slice(&total.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        let mut count: u16 = 0;
        while let Some((doc, tail)) = rest.split_first() {
            let doc = doc.as_ref().as_bytes();
            if out.len() - start + 1 + doc.len() > MAX_FRAME_LEN || count == u16::MAX {
                break;
            }
            put_field(out, doc)?;
            count += 1;
            rest = tail;
        }
        out[start + 8..start + 10].copy_from_slice(&count.to_be_bytes());
        finish_frame(out, start)?;
        if rest.is_empty() {
            return Ok(());
        }
        if count == 0 {
            return Err(CodecError::Oversized("winner document"));
        }
    }
}

/// Writes the payload length into the header of the frame that starts at `start`.
fn finish_frame(out: &mut [u8], start: usize) -> Result<(), CodecError> {
    let payload = out.len() - start - HEADER_LEN;
    if payload > MAX_PAYLOAD_LEN {
        return Err(CodecError::Oversized("payload"));
    }
    let len = u16::try_from(payload).map_err(|_| CodecError::Oversized("payload"))?;
    out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

fn put_field(out: &mut Vec<u8>, field: &[u8]) -> Result<(), CodecError> {
    let len = u8::try_from(field.len()).map_err(|_| CodecError::Oversized("text field"))?;
    out.push(len);
    out.extend_from_slice(field);
    Ok(())
}

fn put_bet(out: &mut Vec<u8>, bet: &RawBet<'_>) -> Result<(), CodecError> {
    for field in [
        bet.first_name,
        bet.last_name,
        bet.document,
        bet.birthdate,
        bet.number,
    ] {
        put_field(out, field)?;
    }
    Ok(())
}

/// Bytes one bet takes in a frame.
pub fn encoded_bet_len(bet: &RawBet<'_>) -> usize {
    5 + bet.first_name.len()
        + bet.last_name.len()
        + bet.document.len()
        + bet.birthdate.len()
        + bet.number.len()
}

fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A read position over a payload; every read checks bounds.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes }
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    fn take(&mut self, n: usize, kind: Kind) -> Result<&'a [u8], CodecError> {
        if self.bytes.len() < n {
            return Err(CodecError::Truncated(kind));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, kind: Kind) -> Result<[u8; N], CodecError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N, kind)?);
        Ok(array)
    }

    fn u8(&mut self, kind: Kind) -> Result<u8, CodecError> {
        Ok(self.array::<1>(kind)?[0])
    }

    fn u16(&mut self, kind: Kind) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array(kind)?))
    }

    fn u32(&mut self, kind: Kind) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array(kind)?))
    }

    fn u64(&mut self, kind: Kind) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.array(kind)?))
    }

    fn field(&mut self, kind: Kind) -> Result<&'a [u8], CodecError> {
        let len = usize::from(self.u8(kind)?);
        self.take(len, kind)
    }

    fn text(&mut self) -> Result<&'a str, CodecError> {
        let kind = Kind::WinnerList;
        std::str::from_utf8(self.field(kind)?).map_err(|_| CodecError::InvalidUtf8(kind))
    }
}

#[cfg(test)]
mod tests;
