//! Streaming reads of the bets file: one row at a time, nothing kept but what the caller keeps.
//!
//! The coordinator reads every stored byte once per run, so this is a hot path. Rows are split by
//! `rows::split_row` (Python's `QUOTE_MINIMAL` dialect: doubled quotes, line breaks inside quotes)
//! and their digits read by `domain::decimal`; this file only reads chunks and says which rows
//! are bets. Reads are `pread`s into a reused buffer, never moving a shared file offset. The bytes
//! of the good rows go through a [`ContentHasher`] in order, so a reader that starts at 0 knows
//! the digest of exactly the bytes it read.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::domain::{decimal, ContentHasher};
use crate::rows::{split_row, strip_quotes, unescape_into, Row};

/// Bytes read from the file at a time, into a buffer the reader keeps. A chunk of 1 MiB, made
/// afresh for every scan, was as much again on top of the coordinator's memory whenever a
/// catch-up had that much to read (at 10,000 agencies, often); 64 KiB reads cost no more per
/// byte, the copy out of the page cache being most of a read either way.
const CHUNK: usize = 64 << 10;
/// A row longer than this is not a bet row (it would be an unbalanced quote running on).
const MAX_ROW: usize = 1 << 20;
/// Fields in a stored row.
const FIELDS: usize = 6;

/// A stored row's fields, unquoted: what the draw and the receipts need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScannedBet<'a> {
    /// The agency that sent it.
    pub agency: u32,
    /// The bettor's first name.
    pub first_name: &'a [u8],
    /// The bettor's last name.
    pub last_name: &'a [u8],
    /// The bettor's document.
    pub document: &'a [u8],
    /// The bettor's birthdate.
    pub birthdate: &'a [u8],
    /// The number bet on.
    pub number: u16,
}

/// How a scan of `[from, to)` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScanSummary {
    /// Offset just past the last good row.
    pub end: u64,
    /// The first bad row, if any.
    pub fault: Option<ScanFault>,
}

/// A row that is not a bet row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScanFault {
    /// Offset of the row.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
    /// Whether no row follows it (then it is a torn tail).
    pub is_last: bool,
}

/// Reads rows of `file` in `[from, to)` (which must start at a row boundary), calling `visit` for
/// each good one and adding their bytes to `content`; stops at the first bad row. `buf` is
/// where the chunks are read, kept by a caller that scans again.
///
/// # Errors
/// Only I/O errors; bad rows are reported in the summary.
pub(super) fn scan_bets(
    file: &File,
    from: u64,
    to: u64,
    buf: &mut Vec<u8>,
    content: &mut ContentHasher,
    visit: impl FnMut(ScannedBet<'_>),
) -> io::Result<ScanSummary> {
    buf.clear();
    let scanned = scan_into(file, from, to, buf, content, visit);
    // A row of up to MAX_ROW grew it: that much is not kept between scans.
    if buf.capacity() > 4 * CHUNK {
        *buf = Vec::new();
    }
    scanned
}

/// [`scan_bets`] into an empty `buf`.
fn scan_into(
    file: &File,
    from: u64,
    to: u64,
    buf: &mut Vec<u8>,
    content: &mut ContentHasher,
    mut visit: impl FnMut(ScannedBet<'_>),
) -> io::Result<ScanSummary> {
    // Unquoted names of a quoted row.
    let mut scratch: Vec<u8> = Vec::new();
    // File offset of `buf[0]`, and the next row's index in `buf`.
    let mut base = from;
    let mut pos = 0;
    loop {
        match split_row(buf, pos) {
            Some(row) => {
                let offset = base + pos as u64;
                match parse(buf, &row, &mut scratch) {
                    Ok(bet) => visit(bet),
                    Err(reason) => {
                        content.update(&buf[..pos]);
                        return Ok(ScanSummary {
                            end: offset,
                            fault: Some(ScanFault {
                                offset,
                                reason: reason.to_string(),
                                is_last: base + row.end as u64 >= to,
                            }),
                        });
                    }
                }
                pos = row.end;
            }
            None => {
                let read_to = base + buf.len() as u64;
                let offset = base + pos as u64;
                if read_to >= to || buf.len() - pos > MAX_ROW {
                    let fault = (pos < buf.len()).then(|| ScanFault {
                        offset,
                        reason: "a row without its end of line".into(),
                        is_last: read_to >= to,
                    });
                    content.update(&buf[..pos]);
                    return Ok(ScanSummary { end: offset, fault });
                }
                // Everything before `pos` is good rows, hashed once as it leaves the buffer.
                content.update(&buf[..pos]);
                buf.drain(..pos);
                base += pos as u64;
                pos = 0;
                let filled = buf.len();
                // The chunk tops the row left over up to CHUNK, so the buffer does not grow for
                // it; only a row longer than most of a chunk makes it grow.
                let room = CHUNK.saturating_sub(filled).max(CHUNK / 4);
                let want = usize::try_from((to - read_to).min(room as u64)).unwrap_or(room);
                buf.resize(filled + want, 0);
                let n = file.read_at(&mut buf[filled..], read_to)?;
                buf.truncate(filled + n);
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the file ends at {read_to}, before {to}"),
                    ));
                }
            }
        }
    }
}

fn parse<'a>(
    buf: &'a [u8],
    row: &Row,
    scratch: &'a mut Vec<u8>,
) -> Result<ScannedBet<'a>, &'static str> {
    if row.count != FIELDS {
        return Err("a row has 6 fields");
    }
    let field = |index: usize| strip_quotes(row.field(buf, index));
    let last = field(5);
    let last = last.strip_suffix(b"\r").unwrap_or(last);
    let agency = decimal(field(0), 10).ok_or("agency is not a number")?;
    let number = decimal(strip_quotes(last), 4).ok_or("number is not a number from 0 to 9999")?;
    // Only names can hold a comma or a quote; nearly every row has none, and copies nothing.
    let (first_name, last_name) = if row.quoted {
        scratch.clear();
        unescape_into(row.field(buf, 1), scratch);
        let split = scratch.len();
        unescape_into(row.field(buf, 2), scratch);
        let names: &'a Vec<u8> = scratch;
        names.split_at(split)
    } else {
        (row.field(buf, 1), row.field(buf, 2))
    };
    Ok(ScannedBet {
        agency: u32::try_from(agency).map_err(|_| "agency out of range")?,
        first_name,
        last_name,
        document: field(3),
        birthdate: field(4),
        number: u16::try_from(number).map_err(|_| "number out of range")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanning_reads_across_chunk_boundaries() {
        let path = std::env::temp_dir().join(format!("tp0-scan-{}", std::process::id()));
        let mut bytes = Vec::new();
        let rows = 3 * CHUNK / 40;
        for i in 0..rows {
            let name = if i % 7 == 0 {
                "\"Ana, \"\"x\"\"\""
            } else {
                "Ana"
            };
            bytes.extend_from_slice(
                format!("{},{name},B,{i},2000-01-01,{}\r\n", i % 5 + 1, i % 10_000).as_bytes(),
            );
        }
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let (mut count, mut winners, mut quoted) = (0, 0, 0);
        let mut content = ContentHasher::new();
        let mut buf = Vec::new();
        let summary = scan_bets(
            &file,
            0,
            bytes.len() as u64,
            &mut buf,
            &mut content,
            |bet| {
                count += 1;
                winners += usize::from(bet.number == 7574);
                if bet.first_name == b"Ana, \"x\"" {
                    quoted += 1;
                } else {
                    assert_eq!(bet.first_name, b"Ana");
                }
                assert_eq!(
                    (bet.last_name, bet.birthdate),
                    (&b"B"[..], &b"2000-01-01"[..])
                );
            },
        )
        .unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            summary,
            ScanSummary {
                end: bytes.len() as u64,
                fault: None
            }
        );
        assert_eq!(count, rows);
        assert_eq!(quoted, rows.div_ceil(7));
        let mut whole = ContentHasher::new();
        whole.update(&bytes);
        assert_eq!(
            content.digest(),
            whole.digest(),
            "every byte hashed once, in order"
        );
        assert_eq!(winners, (0..rows).filter(|i| i % 10_000 == 7574).count());
    }

    #[test]
    fn a_row_longer_than_a_chunk_is_read_whole_and_its_buffer_not_kept() {
        let path = std::env::temp_dir().join(format!("tp0-scan-long-{}", std::process::id()));
        let long = "x".repeat(5 * CHUNK);
        let mut bytes = Vec::new();
        for name in ["Ana", long.as_str(), "Bo"] {
            bytes.extend_from_slice(format!("1,{name},B,1,2000-01-01,7574\r\n").as_bytes());
        }
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        let (mut buf, mut content) = (Vec::new(), ContentHasher::new());
        let mut names = Vec::new();
        let summary = scan_bets(
            &file,
            0,
            bytes.len() as u64,
            &mut buf,
            &mut content,
            |bet| {
                names.push(bet.first_name.len());
            },
        )
        .unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(summary.fault, None);
        assert_eq!(names, [3, long.len(), 2]);
        assert!(buf.capacity() <= 4 * CHUNK, "{}", buf.capacity());
    }
}
