//! Streaming reads of the bets file: one row at a time, nothing kept but what the caller keeps.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

/// What the coordinator needs of a stored row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannedBet<'a> {
    /// The agency that sent it.
    pub agency: u32,
    /// The bettor's document.
    pub document: &'a [u8],
    /// The number bet on.
    pub number: u16,
}

/// How a scan of `[from, to)` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    /// Offset just past the last good row.
    pub end: u64,
    /// The first bad row, if any: its offset, why, and whether more rows follow it.
    pub fault: Option<ScanFault>,
}

/// A row that is not a bet row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanFault {
    /// Offset of the row.
    pub offset: u64,
    /// What is wrong.
    pub reason: String,
    /// Whether any row follows it (if not, it is a torn tail).
    pub is_last: bool,
}

/// Reads rows of `file` in `[from, to)` (which must start at a row boundary), calling `visit` for
/// each good one; stops at the first bad row.
///
/// # Errors
/// Only I/O errors; bad rows are reported in the summary.
pub fn scan_bets(
    file: &File,
    from: u64,
    to: u64,
    mut visit: impl FnMut(ScannedBet<'_>),
) -> io::Result<ScanSummary> {
    let source = RangeReader { file, at: from, to };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        // Only '\n' ends a row, so positions land exactly after each "\r\n"; the '\r' is
        // stripped from the last field below.
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(256 * 1024)
        .from_reader(source);
    let mut record = csv::ByteRecord::new();
    let mut end = from;
    loop {
        let offset = end;
        let more = match reader.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(err) => match err.into_kind() {
                csv::ErrorKind::Io(err) => return Err(err),
                other => {
                    let reason = format!("{other:?}");
                    return Ok(fault(end, offset, reason, &mut reader, &mut record));
                }
            },
        };
        if !more {
            return Ok(ScanSummary { end, fault: None });
        }
        match parse(&record) {
            Ok(bet) => visit(bet),
            Err(reason) => {
                return Ok(fault(
                    end,
                    offset,
                    reason.to_string(),
                    &mut reader,
                    &mut record,
                ));
            }
        }
        end = from + reader.position().byte();
    }
}

fn fault<R: Read>(
    end: u64,
    offset: u64,
    reason: String,
    reader: &mut csv::Reader<R>,
    record: &mut csv::ByteRecord,
) -> ScanSummary {
    let is_last = !matches!(reader.read_byte_record(record), Ok(true));
    ScanSummary {
        end,
        fault: Some(ScanFault {
            offset,
            reason,
            is_last,
        }),
    }
}

fn parse(record: &csv::ByteRecord) -> Result<ScannedBet<'_>, &'static str> {
    if record.len() != 6 {
        return Err("a row has 6 fields");
    }
    let agency = digits(&record[0], 10).ok_or("agency is not a number")?;
    let last = &record[5];
    let last = last.strip_suffix(b"\r").unwrap_or(last);
    let number = digits(last, 4).ok_or("number is not a number from 0 to 9999")?;
    let agency = u32::try_from(agency).map_err(|_| "agency out of range")?;
    let number = u16::try_from(number).map_err(|_| "number out of range")?;
    Ok(ScannedBet {
        agency,
        document: &record[3],
        number,
    })
}

fn digits(bytes: &[u8], max: usize) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > max || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// `pread` over a byte range, so scanning never moves a shared file offset.
struct RangeReader<'a> {
    file: &'a File,
    at: u64,
    to: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.to.saturating_sub(self.at);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}
