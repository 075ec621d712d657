//! Bytes to frames: the header first (`frame_len`), then the payload, field by field, through a
//! bounds-checked cursor; every structural rule is checked here, the direction of a kind too.

use super::{
    Bets, ClientMessage, CodecError, Decoded, Documents, ErrorCode, Frame, Kind, RawBet,
    ServerMessage, HEADER_LEN, MAGIC, MAX_PAYLOAD_LEN,
};

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

/// The header of the first frame in `buf` once the whole frame is there: its kind, a cursor
/// over its payload, and its length.
fn whole_frame(buf: &[u8]) -> Result<Option<(Kind, Cursor<'_>, usize)>, CodecError> {
    let Some(total) = frame_len(buf)? else {
        return Ok(None);
    };
    let kind = Kind::from_byte(buf[1]).ok_or(CodecError::UnknownKind(buf[1]))?;
    Ok(Some((kind, Cursor::new(&buf[HEADER_LEN..total]), total)))
}

/// Leftover bytes after a frame's last field are an error; otherwise the frame is decoded.
fn finish<M>(
    message: M,
    kind: Kind,
    c: &Cursor<'_>,
    total: usize,
) -> Result<Decoded<M>, CodecError> {
    if !c.rest().is_empty() {
        return Err(CodecError::TrailingBytes(kind, c.rest().len()));
    }
    Ok(Decoded::Frame(message, total))
}

impl<'a> Frame<'a> for ClientMessage<'a> {
    fn decode(buf: &'a [u8]) -> Result<Decoded<Self>, CodecError> {
        let Some((kind, mut c, total)) = whole_frame(buf)? else {
            return Ok(Decoded::Incomplete);
        };
        let message = match kind {
            Kind::Hello => ClientMessage::Hello {
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
                ClientMessage::Bets {
                    start,
                    bets: Bets {
                        count,
                        bytes: &bytes[..used],
                    },
                }
            }
            Kind::Bet => ClientMessage::Bet {
                start: c.u64(kind)?,
                bet: read_bet(&mut c, kind)?,
            },
            Kind::End => ClientMessage::End {
                total: c.u64(kind)?,
            },
            Kind::Winners => ClientMessage::Winners,
            Kind::Welcome | Kind::Ack | Kind::WinnerList | Kind::Receipt | Kind::Error => {
                return Err(CodecError::WrongDirection(kind))
            }
        };
        finish(message, kind, &c, total)
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        super::encoding::client(self, out)
    }
}

impl<'a> Frame<'a> for ServerMessage<'a> {
    fn decode(buf: &'a [u8]) -> Result<Decoded<Self>, CodecError> {
        let Some((kind, mut c, total)) = whole_frame(buf)? else {
            return Ok(Decoded::Incomplete);
        };
        let message = match kind {
            Kind::Welcome => ServerMessage::Welcome {
                position: c.u64(kind)?,
                ended: match c.u8(kind)? {
                    0 => false,
                    1 => true,
                    other => return Err(CodecError::InvalidFlag(kind, other)),
                },
            },
            Kind::Ack => ServerMessage::Ack {
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
                ServerMessage::WinnerList {
                    total,
                    documents: Documents {
                        count,
                        bytes: &bytes[..used],
                    },
                }
            }
            Kind::Receipt => ServerMessage::Receipt {
                count: c.u64(kind)?,
                digest: c.array(kind)?,
            },
            Kind::Error => ServerMessage::Error {
                code: ErrorCode::from_byte(c.u8(kind)?),
                text: std::str::from_utf8(c.field(kind)?)
                    .map_err(|_| CodecError::InvalidUtf8(kind))?,
            },
            Kind::Hello | Kind::Bets | Kind::Bet | Kind::End | Kind::Winners => {
                return Err(CodecError::WrongDirection(kind))
            }
        };
        finish(message, kind, &c, total)
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        super::encoding::server(self, out)
    }
}

#[inline]
pub(super) fn read_bet<'a>(c: &mut Cursor<'a>, kind: Kind) -> Result<RawBet<'a>, CodecError> {
    Ok(RawBet {
        first_name: c.field(kind)?,
        last_name: c.field(kind)?,
        document: c.field(kind)?,
        birthdate: c.field(kind)?,
        number: c.field(kind)?,
    })
}

/// A read position over a payload; every read checks bounds.
pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes }
    }

    #[inline]
    pub(super) fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    #[inline]
    pub(super) fn take(&mut self, n: usize, kind: Kind) -> Result<&'a [u8], CodecError> {
        if self.bytes.len() < n {
            return Err(CodecError::Truncated(kind));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    #[inline]
    pub(super) fn array<const N: usize>(&mut self, kind: Kind) -> Result<[u8; N], CodecError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N, kind)?);
        Ok(array)
    }

    #[inline]
    pub(super) fn u8(&mut self, kind: Kind) -> Result<u8, CodecError> {
        Ok(self.array::<1>(kind)?[0])
    }

    #[inline]
    pub(super) fn u16(&mut self, kind: Kind) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array(kind)?))
    }

    #[inline]
    pub(super) fn u32(&mut self, kind: Kind) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array(kind)?))
    }

    #[inline]
    pub(super) fn u64(&mut self, kind: Kind) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.array(kind)?))
    }

    #[inline]
    pub(super) fn field(&mut self, kind: Kind) -> Result<&'a [u8], CodecError> {
        let len = usize::from(self.u8(kind)?);
        self.take(len, kind)
    }

    #[inline]
    pub(super) fn text(&mut self) -> Result<&'a str, CodecError> {
        let kind = Kind::WinnerList;
        std::str::from_utf8(self.field(kind)?).map_err(|_| CodecError::InvalidUtf8(kind))
    }
}
