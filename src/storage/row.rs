//! One bet as one CSV row, byte for byte what the course's `store_bets` writes.

use crate::domain::Bet;
use crate::rows::needs_quotes;

/// The agency (at most 10 digits), five commas and `\r\n`.
const ROW_OVERHEAD: usize = 10 + 5 + 2;

/// Appends `agency,first,last,document,birthdate,number\r\n` to `out`, quoting like Python's
/// `csv.QUOTE_MINIMAL`: a field is quoted when it holds a comma, a quote, `\r` or `\n`, and its
/// quotes are doubled.
pub fn append_row(out: &mut Vec<u8>, agency: u32, bet: &Bet<'_>) {
    // Room for the row unquoted, so the pushes below do not each check the capacity's growth.
    out.reserve(
        ROW_OVERHEAD
            + bet.first_name.len()
            + bet.last_name.len()
            + bet.document.len()
            + bet.birthdate.len()
            + bet.number_text.len(),
    );
    push_u32(out, agency);
    for field in [
        bet.first_name,
        bet.last_name,
        bet.document,
        bet.birthdate,
        bet.number_text,
    ] {
        out.push(b',');
        push_field(out, field.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    if !needs_quotes(field) {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for &byte in field {
        if byte == b'"' {
            out.push(b'"');
        }
        out.push(byte);
    }
    out.push(b'"');
}

fn push_u32(out: &mut Vec<u8>, mut value: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RawBet;

    fn bet<'a>(first: &'a str, last: &'a str) -> Bet<'a> {
        Bet::validate(&RawBet {
            first_name: first.as_bytes(),
            last_name: last.as_bytes(),
            document: b"30904465",
            birthdate: b"1999-03-17",
            number: b"7574",
        })
        .unwrap()
    }

    #[test]
    fn plain_rows_are_unquoted_with_crlf() {
        let mut out = Vec::new();
        append_row(&mut out, 1, &bet("Santiago Lionel", "Lorca"));
        assert_eq!(out, b"1,Santiago Lionel,Lorca,30904465,1999-03-17,7574\r\n");
    }

    #[test]
    fn special_characters_are_quoted_like_python() {
        let mut out = Vec::new();
        append_row(&mut out, 12, &bet("Ana, \"la\"", "Pé\nrez"));
        assert_eq!(
            out,
            "12,\"Ana, \"\"la\"\"\",\"Pé\nrez\",30904465,1999-03-17,7574\r\n".as_bytes()
        );
    }
}
