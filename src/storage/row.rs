//! Rows on their way into the bets file: one bet as one CSV row, byte for byte what the course's
//! `store_bets` writes, gathered in a [`PendingRows`] until [`BetsFile::append`] writes them.
//!
//! [`BetsFile::append`]: super::BetsFile::append

use crate::domain::Bet;
use crate::rows::needs_quotes;

/// The agency (at most 10 digits), five commas and `\r\n`.
const ROW_OVERHEAD: usize = 10 + 5 + 2;

/// Rows formatted for the bets file and not yet written: a session gathers the batches of a
/// group here, rolls back a batch that turns out to be refused, and appends the rest at once.
#[derive(Debug, Default)]
pub struct PendingRows {
    bytes: Vec<u8>,
}

/// Where a [`PendingRows`] stood, to roll back to.
#[derive(Debug, Clone, Copy)]
pub struct Mark(usize);

impl PendingRows {
    /// Empty, with room for `bytes` bytes of rows.
    pub fn with_capacity(bytes: usize) -> Self {
        PendingRows {
            bytes: Vec::with_capacity(bytes),
        }
    }

    /// Adds `bet` of `agency` as one row.
    pub fn push(&mut self, agency: u32, bet: &Bet<'_>) {
        append_row(&mut self.bytes, agency, bet);
    }

    /// Where the rows stand now.
    pub fn mark(&self) -> Mark {
        Mark(self.bytes.len())
    }

    /// Drops every row added since `mark`.
    pub fn roll_back(&mut self, mark: Mark) {
        self.bytes.truncate(mark.0);
    }

    /// Bytes of rows pending.
    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Whether no row is pending.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The rows as the file will hold them.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Drops every pending row.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
    }
}

/// Appends `agency,first,last,document,birthdate,number\r\n` to `out`, quoting like Python's
/// `csv.QUOTE_MINIMAL`: a field is quoted when it holds a comma, a quote, `\r` or `\n`, and its
/// quotes are doubled.
fn append_row(out: &mut Vec<u8>, agency: u32, bet: &Bet<'_>) {
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
    use crate::domain::RawBet;

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
    fn a_rolled_back_batch_leaves_the_rows_before_it() {
        let mut rows = PendingRows::default();
        rows.push(1, &bet("Ana", "Lorca"));
        let kept = rows.bytes().to_vec();
        let mark = rows.mark();
        rows.push(1, &bet("Bo", "Paz"));
        rows.roll_back(mark);
        assert_eq!(rows.bytes(), kept.as_slice());
        assert_eq!(rows.len_bytes(), kept.len());
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
