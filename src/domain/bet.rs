//! A bet and its validation.

use std::fmt;

use super::words;

/// Longest name accepted, in bytes (it travels with a one-byte length).
pub(super) const MAX_NAME_LEN: usize = 255;
/// Longest document accepted, in digits.
pub(super) const MAX_DOCUMENT_DIGITS: usize = 10;

/// A bet's five fields as an agency submits them: bytes, not yet validated. The protocol encodes
/// and decodes them; [`Bet::validate`] says whether they make a bet.
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

/// A bet whose fields are all valid; it borrows the bytes it was validated from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bet<'a> {
    /// Nombre: UTF-8 of 1 to 255 bytes, no NUL, not only white space.
    pub first_name: &'a str,
    /// Apellido: as the first name.
    pub last_name: &'a str,
    /// Documento: 1 to 10 ASCII digits, kept as written.
    pub document: &'a str,
    /// Nacimiento: a real calendar date written `YYYY-MM-DD`.
    pub birthdate: &'a str,
    /// Número: 0 to 9999.
    pub number: u16,
    /// The number as written (canonical decimal), so storing it formats nothing.
    pub number_text: &'a str,
}

/// Which field of a bet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Nombre.
    FirstName,
    /// Apellido.
    LastName,
    /// Documento.
    Document,
    /// Nacimiento.
    Birthdate,
    /// Número.
    Number,
}

/// Why a bet was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BetError {
    /// The field at fault.
    pub field: Field,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for BetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.field {
            Field::FirstName => "nombre",
            Field::LastName => "apellido",
            Field::Document => "documento",
            Field::Birthdate => "nacimiento",
            Field::Number => "numero",
        };
        write!(f, "{name}: {}", self.reason)
    }
}

impl std::error::Error for BetError {}

impl<'a> Bet<'a> {
    /// Validates every field of a raw bet.
    ///
    /// # Errors
    /// The first field that is invalid, with the reason.
    pub fn validate(raw: &RawBet<'a>) -> Result<Bet<'a>, BetError> {
        let (number, number_text) = number(raw.number)?;
        Ok(Bet {
            first_name: name(raw.first_name, Field::FirstName)?,
            last_name: name(raw.last_name, Field::LastName)?,
            document: document(raw.document)?,
            birthdate: birthdate(raw.birthdate)?,
            number,
            number_text,
        })
    }

    /// The bet as raw fields again, for encoding.
    pub fn raw(&self) -> RawBet<'a> {
        RawBet {
            first_name: self.first_name.as_bytes(),
            last_name: self.last_name.as_bytes(),
            document: self.document.as_bytes(),
            birthdate: self.birthdate.as_bytes(),
            number: self.number_text.as_bytes(),
        }
    }
}

fn fail<T>(field: Field, reason: &'static str) -> Result<T, BetError> {
    Err(BetError { field, reason })
}

fn name(bytes: &[u8], field: Field) -> Result<&str, BetError> {
    if bytes.is_empty() {
        return fail(field, "empty");
    }
    if bytes.len() > MAX_NAME_LEN {
        return fail(field, "longer than 255 bytes");
    }
    // One pass, eight bytes at a time (names are a few words long): a NUL anywhere, and whether
    // every byte is ASCII, for which nothing more needs checking.
    let (mut nul, mut high) = (false, 0u64);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = words::load(chunk);
        nul |= words::equal_bytes(word, 0) != 0;
        high |= word & words::HIGHS;
    }
    for &byte in chunks.remainder() {
        nul |= byte == 0;
        high |= u64::from(byte & 0x80);
    }
    if nul {
        return fail(field, "contains NUL");
    }
    let ascii_only = high == 0;
    // ASCII's `char::is_whitespace` set, as for non-ASCII names: `is_ascii_whitespace` omits the
    // vertical tab, which let a name of only `\x0B` through (found by fuzz/fuzz_targets/bet.rs).
    // Only used when every byte is ASCII; it stops at the first letter.
    let blank = || bytes.iter().all(|b| matches!(b, b' ' | b'\t'..=b'\r'));
    if ascii_only {
        return if blank() {
            fail(field, "blank")
        } else {
            Ok(ascii(bytes))
        };
    }
    let text = std::str::from_utf8(bytes).or_else(|_| fail(field, "not UTF-8"))?;
    if text.chars().all(char::is_whitespace) {
        return fail(field, "blank");
    }
    Ok(text)
}

/// Bytes already checked to be ASCII, as text.
///
/// `unsafe` on purpose: the safe `str::from_utf8` here (four short fields per bet, checked
/// again) cost 13.6% of the server's CPU in `perf` and 20% of `make bench`'s loopback
/// throughput; stable Rust has no safe zero-cost ASCII-to-`str` conversion.
fn ascii(bytes: &[u8]) -> &str {
    debug_assert!(bytes.is_ascii());
    // SAFETY: every caller checked that `bytes` is ASCII (`digits`, the date's shape, or the
    // name's ASCII pass), and ASCII is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

fn digits(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit)
}

/// The value of 1 to `max_digits` ASCII decimal digits (leading zeros allowed), or `None`: the
/// one digit parser, for the bet's number here and for the numbers storage reads back.
#[inline]
pub fn decimal(bytes: &[u8], max_digits: usize) -> Option<u64> {
    // 19 digits always fit a u64.
    if bytes.len() > max_digits.min(19) || !digits(bytes) {
        return None;
    }
    Some(bytes.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

fn document(bytes: &[u8]) -> Result<&str, BetError> {
    if !digits(bytes) || bytes.len() > MAX_DOCUMENT_DIGITS {
        return fail(Field::Document, "not 1 to 10 digits");
    }
    Ok(ascii(bytes))
}

fn number(bytes: &[u8]) -> Result<(u16, &str), BetError> {
    let Some(value) = decimal(bytes, 4) else {
        return fail(Field::Number, "not a number from 0 to 9999");
    };
    if bytes.len() > 1 && bytes[0] == b'0' {
        return fail(Field::Number, "leading zero");
    }
    // Four digits at most: the value is below 10,000.
    Ok((value as u16, ascii(bytes)))
}

fn birthdate(bytes: &[u8]) -> Result<&str, BetError> {
    let bad = || fail(Field::Birthdate, "not a valid YYYY-MM-DD date");
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return bad();
    }
    let part = |range: std::ops::Range<usize>| -> Option<u32> {
        let s = &bytes[range];
        digits(s).then(|| s.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (Some(year), Some(month), Some(day)) = (part(0..4), part(5..7), part(8..10)) else {
        return bad();
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return bad(),
    };
    if year < 1900 || day == 0 || day > days {
        return bad();
    }
    // Digits and dashes only, checked above.
    Ok(ascii(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(first: &'a [u8], doc: &'a [u8], date: &'a [u8], number: &'a [u8]) -> RawBet<'a> {
        RawBet {
            first_name: first,
            last_name: b"Lorca",
            document: doc,
            birthdate: date,
            number,
        }
    }

    #[test]
    fn the_statement_example_is_valid() {
        let bet = Bet::validate(&raw(
            b"Santiago Lionel",
            b"30904465",
            b"1999-03-17",
            b"7574",
        ))
        .unwrap();
        assert_eq!(bet.number, 7574);
        assert_eq!(bet.document, "30904465");
        assert_eq!(Bet::validate(&bet.raw()).unwrap(), bet);
    }

    #[test]
    fn names_keep_accents_commas_quotes_and_line_breaks() {
        let name = "José \"Pepe\", de la\nO'Higgins".as_bytes();
        assert!(Bet::validate(&raw(name, b"1", b"2000-02-29", b"0")).is_ok());
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: [(RawBet<'_>, Field); 13] = [
            (raw(b"", b"1", b"2000-01-01", b"1"), Field::FirstName),
            (raw(b"  ", b"1", b"2000-01-01", b"1"), Field::FirstName),
            (raw(b"\xC3", b"1", b"2000-01-01", b"1"), Field::FirstName),
            (raw(b"\x0B", b"1", b"2000-01-01", b"1"), Field::FirstName),
            (
                raw(b" \t\x0B\x0C\r\n", b"1", b"2000-01-01", b"1"),
                Field::FirstName,
            ),
            (raw(b"A", b"12a", b"2000-01-01", b"1"), Field::Document),
            (
                raw(b"A", b"12345678901", b"2000-01-01", b"1"),
                Field::Document,
            ),
            (raw(b"A", b"1", b"1999-02-29", b"1"), Field::Birthdate),
            (raw(b"A", b"1", b"1999-13-01", b"1"), Field::Birthdate),
            (raw(b"A", b"1", b"99-01-01", b"1"), Field::Birthdate),
            (raw(b"A", b"1", b"2000-01-01", b"10000"), Field::Number),
            (raw(b"A", b"1", b"2000-01-01", b"-1"), Field::Number),
            (raw(b"A", b"1", b"2000-01-01", b"0123"), Field::Number),
        ];
        for (bet, field) in cases {
            assert_eq!(Bet::validate(&bet).unwrap_err().field, field, "{bet:?}");
        }
    }
}
