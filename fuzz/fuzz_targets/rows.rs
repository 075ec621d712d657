//! The agency-file row reader on arbitrary files, read whole and in small pieces: it never panics,
//! never hangs (every call returns a row that consumed bytes, the end, or an error), gives the same
//! rows and line numbers however the bytes arrive, on files without quotes splits and numbers
//! lines exactly as a naive split does, and skipping a byte-order mark reads as the file without it.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use tp0::rows::{split_row, RowReader, BYTE_ORDER_MARK, MAX_FIELDS};

/// Hands out at most `chunk` bytes per read, and an `Interrupted` error before every other read
/// when `interrupt` is set (the reader must retry it).
struct Pieces<'a> {
    rest: &'a [u8],
    chunk: usize,
    interrupt: bool,
    toggle: bool,
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.toggle = !self.toggle;
        if self.interrupt && self.toggle {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        let n = self.chunk.min(out.len()).min(self.rest.len());
        out[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

/// Every row's line, field count and fields (the first `MAX_FIELDS`), and how reading ended.
type Outcome = (Vec<(u64, usize, Vec<Vec<u8>>)>, Result<(), io::ErrorKind>);

fn read_all<R: Read>(inner: R, len: usize, skip_mark: bool) -> Outcome {
    let mut reader = RowReader::new(inner);
    if skip_mark {
        // Readers here never fail but for `Interrupted`, which the reader retries.
        assert!(reader.skip_byte_order_mark().is_ok());
    }
    let mut rows = Vec::new();
    loop {
        let next_line = reader.next_line();
        match reader.next_row() {
            Ok(Some(fields)) => {
                let count = fields.len();
                assert!(count >= 1, "a row has at least one field");
                assert_eq!(fields.line(), next_line, "a row starts where the last ended");
                if fields.is_blank() {
                    assert!(count == 1 && fields.get(0).is_empty());
                }
                let shown = count.min(MAX_FIELDS);
                let line = fields.line();
                rows.push((line, count, (0..shown).map(|i| fields.get(i).to_vec()).collect()));
                assert!(reader.next_line() > line, "every row takes at least one line");
            }
            Ok(None) => break (rows, Ok(())),
            Err(err) => break (rows, Err(err.kind())),
        }
        // Each row takes at least one byte of the file (its line end, or the last row's bytes),
        // so more rows than bytes means a call made no progress.
        assert!(rows.len() <= len, "{} rows from {len} bytes", rows.len());
        assert_eq!(reader.rows(), rows.len() as u64);
    }
}

/// The naive reading of a file without quotes: lines on `\n` (numbered from 1), fields on `,`,
/// the last field without a trailing `\r`, and a last line without its `\n` still a row.
fn naive(file: &[u8]) -> Outcome {
    let body = file.strip_suffix(b"\n").unwrap_or(file);
    let rows = if file.is_empty() {
        Vec::new()
    } else {
        body.split(|&b| b == b'\n')
            .zip(1..)
            .map(|(line, number)| {
                let fields: Vec<&[u8]> = line.split(|&b| b == b',').collect();
                let last = fields.len() - 1;
                let shown = fields
                    .iter()
                    .enumerate()
                    .take(MAX_FIELDS)
                    .map(|(i, f)| {
                        let f = if i == last {
                            f.strip_suffix(b"\r").unwrap_or(f)
                        } else {
                            f
                        };
                        f.to_vec()
                    })
                    .collect();
                (number, fields.len(), shown)
            })
            .collect()
    };
    (rows, Ok(()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, file)) = data.split_first() else {
        return;
    };
    // `split_row` alone: a row it finds ends inside the buffer, past where it starts.
    for start in [0, file.len() / 2] {
        if let Some(row) = split_row(file, start) {
            assert!(row.end > start && row.end <= file.len());
            assert!(row.count >= 1);
        }
    }
    let whole = read_all(file, file.len(), false);
    let pieces = Pieces {
        rest: file,
        chunk: 1 + usize::from(control & 0x3F),
        interrupt: control & 0x80 != 0,
        toggle: false,
    };
    let skip_mark = control & 0x40 != 0;
    let without_mark = if skip_mark {
        read_all(file.strip_prefix(BYTE_ORDER_MARK).unwrap_or(file), file.len(), false)
    } else {
        whole.clone()
    };
    assert_eq!(
        read_all(pieces, file.len(), skip_mark),
        without_mark,
        "the rows depend on how reads split, or on a skipped mark"
    );
    if !file.contains(&b'"') {
        assert_eq!(whole, naive(file));
    }
});
