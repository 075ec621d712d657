//! Rows of the course's CSV dialect (Python's `csv` with `QUOTE_MINIMAL`), split without copying.
//!
//! Used for both files of the system: the bets file the coordinator scans (`storage`) and the agency
//! files the client uploads (`client`), so it belongs to neither.
//!
//! Why not the `csv` crate: it reads a file that ends inside a quoted field as if the quote were
//! closed (`...,"75` gives the number 75), a silent wrong answer for a bet; this reader reports
//! it. Rows without a quote (nearly all of them) are split in one pass over their bytes, sixteen
//! at a time; a row with a quote goes through a small state machine (doubled quotes, commas and
//! line breaks inside quotes).

use std::io::{self, Read};

use crate::domain::words;

/// Fields a row may have before the rest are only counted.
pub const MAX_FIELDS: usize = 8;

/// The UTF-8 byte-order mark spreadsheets write at the start of a file.
pub const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

mod split;

pub use split::{split_row, Row};
#[cfg(test)]
use split::{Marks, BLOCK};

/// Whether `field` must be quoted when written in this dialect: it holds a `,`, a `"`, a `\r` or
/// a `\n` (Python's `csv.QUOTE_MINIMAL`). Eight bytes at a time (`domain::words`): every name
/// the session stores passes here.
pub fn needs_quotes(field: &[u8]) -> bool {
    const QUOTED: [u8; 4] = [b',', b'"', b'\r', b'\n'];
    let specials = |word: u64| {
        QUOTED
            .iter()
            .fold(0, |found, &b| found | words::equal_bytes(word, b))
    };
    let mut words_of = field.chunks_exact(8);
    words_of
        .by_ref()
        .any(|chunk| specials(words::load(chunk)) != 0)
        || words_of.remainder().iter().any(|b| QUOTED.contains(b))
}

/// A quoted field without its surrounding quotes (doubled quotes inside are left as they are);
/// any other field as it is. Enough for fields that cannot hold a quote, such as digits.
pub fn strip_quotes(field: &[u8]) -> &[u8] {
    match field {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    }
}

/// Appends a field's content to `out`: quotes removed and doubled quotes made single.
pub fn unescape_into(field: &[u8], out: &mut Vec<u8>) {
    let inner = strip_quotes(field);
    if inner.len() == field.len() {
        out.extend_from_slice(field);
        return;
    }
    let mut quote = false;
    for &byte in inner {
        if byte == b'"' && quote {
            quote = false;
            continue;
        }
        quote = byte == b'"';
        out.push(byte);
    }
}

/// Reads rows from any `Read`, reusing one buffer; quoted fields are unescaped.
pub struct RowReader<R> {
    inner: R,
    /// Zeroed once and read into in place; bytes past `filled` are stale.
    buf: Vec<u8>,
    filled: usize,
    pos: usize,
    eof: bool,
    row: Row,
    scratch: Vec<u8>,
    unescaped: [(usize, usize); MAX_FIELDS],
    rows: u64,
    /// The line the row last returned starts on, and the line the next one starts on.
    line: u64,
    next_line: u64,
}

/// The fields of the row last read.
pub struct Fields<'a> {
    buf: &'a [u8],
    row: &'a Row,
    scratch: &'a [u8],
    unescaped: &'a [(usize, usize); MAX_FIELDS],
    line: u64,
}

impl<'a> Fields<'a> {
    /// The line the row starts on, from 1, as a text editor numbers lines: a row with line
    /// breaks inside quotes spans several.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// How many fields the row has.
    pub fn len(&self) -> usize {
        self.row.count
    }

    /// Whether the row has no fields (it never does: an empty line is one empty field).
    pub fn is_empty(&self) -> bool {
        self.row.count == 0
    }

    /// Whether the row is an empty line (`\n` or `\r\n` alone); a quoted empty field is not.
    pub fn is_blank(&self) -> bool {
        self.row.count == 1 && !self.row.quoted && self.get(0).is_empty()
    }

    /// Field `index`, unescaped, without a trailing `\r` on the last one; empty past the last field.
    pub fn get(&self, index: usize) -> &'a [u8] {
        if index >= self.row.count.min(MAX_FIELDS) {
            return &[];
        }
        let field = if self.row.quoted {
            let (start, end) = self.unescaped.get(index).copied().unwrap_or((0, 0));
            &self.scratch[start..end]
        } else {
            self.row.field(self.buf, index)
        };
        if index + 1 == self.row.count {
            field.strip_suffix(b"\r").unwrap_or(field)
        } else {
            field
        }
    }
}

impl<R: Read> RowReader<R> {
    /// A reader over `inner`.
    pub fn new(inner: R) -> Self {
        RowReader {
            inner,
            buf: vec![0; 64 * 1024],
            filled: 0,
            pos: 0,
            eof: false,
            row: Row::empty(),
            scratch: Vec::new(),
            unescaped: [(0, 0); MAX_FIELDS],
            rows: 0,
            line: 0,
            next_line: 1,
        }
    }

    /// Rows read so far (the number of the row last returned, from 1).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The line the next row starts on (see [`Fields::line`]): where a row that cannot be
    /// read is.
    pub fn next_line(&self) -> u64 {
        self.next_line
    }

    /// Skips a [`BYTE_ORDER_MARK`] at the very start of the input; whether there was one. Only
    /// before the first row: after it, nothing is skipped.
    ///
    /// # Errors
    /// Read errors.
    pub fn skip_byte_order_mark(&mut self) -> io::Result<bool> {
        if self.rows > 0 || self.pos > 0 {
            return Ok(false);
        }
        while self.filled < BYTE_ORDER_MARK.len() && !self.eof {
            self.fill()?;
        }
        let found = self.buf[..self.filled].starts_with(BYTE_ORDER_MARK);
        if found {
            self.pos = BYTE_ORDER_MARK.len();
        }
        Ok(found)
    }

    /// Drops the bytes already returned and appends the next read (`eof` when it returns none),
    /// doubling the buffer when a row fills it. The read goes straight into the buffer: a read
    /// into a second one, then appended, copied every byte of the file once more, and growing
    /// the buffer by zeros per read cost 64 KiB of writes even for a read of one byte (the
    /// fuzzer's pieces).
    fn fill(&mut self) -> io::Result<()> {
        self.buf.copy_within(self.pos..self.filled, 0);
        self.filled -= self.pos;
        self.pos = 0;
        if self.filled == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = loop {
            match self.inner.read(&mut self.buf[self.filled..]) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.filled += n;
        self.eof = n == 0;
        Ok(())
    }

    /// The next row; `None` at the end. A last row without a line end still counts.
    ///
    /// # Errors
    /// Read errors, and a row longer than 1 MiB (an unbalanced quote).
    pub fn next_row(&mut self) -> io::Result<Option<Fields<'_>>> {
        loop {
            if self.row.split(&self.buf[..self.filled], self.pos) {
                let row = &self.row;
                // A row without quotes is one line; only a quoted field can hold line breaks.
                let lines = if row.quoted {
                    self.buf[self.pos..row.end]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count() as u64
                } else {
                    1
                };
                self.line = self.next_line;
                self.next_line += lines;
                self.pos = row.end;
                break;
            }
            if self.eof {
                if self.pos == self.filled {
                    return Ok(None);
                }
                if self.buf[..self.filled].last() == Some(&b'\n') {
                    // Even with a line end the row does not close: it ends inside quotes.
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the file ends inside a quoted field (a quote is never closed)",
                    ));
                }
                // A last row without its line end.
                if self.filled == self.buf.len() {
                    self.buf.push(0);
                }
                self.buf[self.filled] = b'\n';
                self.filled += 1;
                continue;
            }
            if self.filled - self.pos > 1 << 20 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a row longer than 1 MiB",
                ));
            }
            self.fill()?;
        }
        self.rows += 1;
        if self.row.quoted {
            self.scratch.clear();
            for index in 0..self.row.count.min(MAX_FIELDS) {
                let start = self.scratch.len();
                unescape_into(self.row.field(&self.buf, index), &mut self.scratch);
                self.unescaped[index] = (start, self.scratch.len());
            }
        }
        Ok(Some(self.fields()))
    }

    /// The fields of the row [`next_row`](Self::next_row) last returned, again (none before the
    /// first): a caller that looked at a row and moved on can still hand it out.
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            buf: &self.buf[..self.filled],
            row: &self.row,
            scratch: &self.scratch,
            unescaped: &self.unescaped,
            line: self.line,
        }
    }
}

#[cfg(test)]
mod tests;
