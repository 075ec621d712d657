//! Frames to bytes: each message is written with its header in one pass, and no frame exceeds
//! the 8 kB limit.

use super::{
    ClientMessage, CodecError, Kind, RawBet, ServerMessage, HEADER_LEN, MAGIC, MAX_FIELD_LEN,
    MAX_FRAME_LEN, MAX_PAYLOAD_LEN,
};

/// Runs `write` on `out`; on error, leaves `out` as it was.
fn atomically(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    let start = out.len();
    let result = write(out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Appends the frame of a client's `message` to `out` (see [`super::Frame::encode`]).
pub(super) fn client(message: &ClientMessage<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    atomically(out, |out| {
        let start = out.len();
        let kind = match message {
            ClientMessage::Hello { .. } => Kind::Hello,
            ClientMessage::Bets { .. } => Kind::Bets,
            ClientMessage::Bet { .. } => Kind::Bet,
            ClientMessage::End { .. } => Kind::End,
            ClientMessage::Winners => Kind::Winners,
        };
        out.extend_from_slice(&[MAGIC, kind as u8, 0, 0]);
        match message {
            ClientMessage::Hello { agency, secret } => {
                out.extend_from_slice(&agency.to_be_bytes());
                put_field(out, secret)?;
            }
            ClientMessage::Bets { start, bets } => {
                out.extend_from_slice(&start.to_be_bytes());
                out.extend_from_slice(&bets.count.to_be_bytes());
                out.extend_from_slice(bets.bytes);
            }
            ClientMessage::Bet { start, bet } => {
                out.extend_from_slice(&start.to_be_bytes());
                put_bet(out, bet)?;
            }
            ClientMessage::End { total } => out.extend_from_slice(&total.to_be_bytes()),
            ClientMessage::Winners => {}
        }
        finish_frame(out, start)
    })
}

/// Appends the frame of the server's `message` to `out` (see [`super::Frame::encode`]).
pub(super) fn server(message: &ServerMessage<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    atomically(out, |out| {
        let start = out.len();
        let kind = match message {
            ServerMessage::Welcome { .. } => Kind::Welcome,
            ServerMessage::Ack { .. } => Kind::Ack,
            ServerMessage::WinnerList { .. } => Kind::WinnerList,
            ServerMessage::Receipt { .. } => Kind::Receipt,
            ServerMessage::Error { .. } => Kind::Error,
        };
        out.extend_from_slice(&[MAGIC, kind as u8, 0, 0]);
        match message {
            ServerMessage::Welcome { position, ended } => {
                out.extend_from_slice(&position.to_be_bytes());
                out.push(u8::from(*ended));
            }
            ServerMessage::Ack { position } => out.extend_from_slice(&position.to_be_bytes()),
            ServerMessage::WinnerList { total, documents } => {
                out.extend_from_slice(&total.to_be_bytes());
                out.extend_from_slice(&documents.count.to_be_bytes());
                out.extend_from_slice(documents.bytes);
            }
            ServerMessage::Receipt { count, digest } => {
                out.extend_from_slice(&count.to_be_bytes());
                out.extend_from_slice(digest);
            }
            ServerMessage::Error { code, text } => {
                out.push(code.to_byte());
                put_field(out, truncate_utf8(text, MAX_FIELD_LEN).as_bytes())?;
            }
        }
        finish_frame(out, start)
    })
}

/// Encodes `documents` as as many `WINNER_LIST` frames as needed (at least one, even when empty).
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
pub(super) fn finish_frame(out: &mut [u8], start: usize) -> Result<(), CodecError> {
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

pub(super) fn put_bet(out: &mut Vec<u8>, bet: &RawBet<'_>) -> Result<(), CodecError> {
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
