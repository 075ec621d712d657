//! The whole agency file read once before connecting, so bets are sent only from a file that can
//! finish: one bad row anywhere means nothing is sent, and every bad row is reported in one run.
//!
//! Streamed like the upload (one row in memory), so a file of millions of bets is read twice and
//! held never. The check also computes the file's receipt: it reads every bet of the version the
//! upload sends (the upload refuses any other), so hashing here covers the whole file, rows a
//! resume skips included, without hashing again on every attempt.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::source::{BetSource, FileStamp};
use super::ClientError;
use crate::domain::{Receipt, ReceiptBuilder};
use crate::logging::field;

/// Bad rows logged one by one; the rest are counted.
const SHOWN: u64 = 20;

/// An agency file that can finish: which version of it was read, and the receipt of its bets.
pub(super) struct CheckedFile {
    /// The version read; the upload sends only from this one.
    pub(super) stamp: FileStamp,
    /// The count and digest of all its bets, in file order; `None` only in `client-one-pass`
    /// (the bench's A/B, feature `one-pass-client`), which reads no row before connecting.
    pub(super) receipt: Option<Receipt>,
}

/// Reads every row of the agency file at `path`: when every row is a bet or may be skipped, the
/// version of the file it read and the receipt of its bets.
///
/// Logs a skipped header row, each of the first [`SHOWN`] bad rows (file, line, field, reason)
/// and how many more there are.
///
/// # Errors
/// [`ClientError::Fatal`] when the file cannot be opened or has a bad row; [`ClientError::Stopped`]
/// on SIGTERM.
pub(super) fn check_file(path: &Path, stop: &AtomicBool) -> Result<CheckedFile, ClientError> {
    let shown_path = path.display().to_string();
    let file = field(&shown_path);
    let mut source = BetSource::start(path).map_err(ClientError::Fatal)?;
    let (mut bets, mut bad) = (0u64, 0u64);
    let mut receipt = ReceiptBuilder::new();
    // The line of a row that could not be read, where reading stopped.
    let mut stopped_at = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(ClientError::Stopped);
        }
        let row = source.next_checked().map(|bet| match bet {
            Some(bet) => {
                // Validated: the number is its canonical decimal text, as the central stores it.
                receipt.add_raw(&bet.raw());
                true
            }
            None => false,
        });
        if bets + bad == 0 {
            // The first call reads past the header, if there is one: said in file order.
            if let Some(line) = source.skipped().header {
                log::info!(
                    "action: skip_header_row | result: success | file: {file} | row: {line}"
                );
            }
        }
        match row {
            Ok(true) => bets += 1,
            Ok(false) => break,
            Err(row) => {
                bad += 1;
                if bad <= SHOWN {
                    let at = match row.field() {
                        Some(name) => format!("row: {} | field: {name}", row.line),
                        None => format!("row: {}", row.line),
                    };
                    log::error!(
                        "action: check_agency_file | result: fail | file: {file} | {at} | reason: {}",
                        field(&row.reason())
                    );
                }
                if row.is_unreadable() {
                    stopped_at = Some(row.line);
                    break;
                }
            }
        }
    }
    let skipped = source.skipped();
    if bad > 0 {
        let more = bad.saturating_sub(SHOWN);
        let unread = stopped_at.map_or(String::new(), |line| {
            format!(" | not_read: the rows after row {line}")
        });
        log::error!(
            "action: check_agency_file | result: fail | file: {file} | bad_rows: {bad} | not_shown: {more}{unread}"
        );
        let rows = if bad == 1 { "row" } else { "rows" };
        return Err(ClientError::Fatal(format!(
            "{shown_path}: {bad} bad {rows}, nothing sent"
        )));
    }
    log::info!(
        "action: check_agency_file | result: success | file: {file} | bets: {bets} | blank_lines: {} | header_row: {} | byte_order_mark: {}",
        skipped.blank_lines,
        skipped.header.is_some(),
        skipped.byte_order_mark
    );
    Ok(CheckedFile {
        stamp: source.stamp(),
        receipt: Some(receipt.receipt()),
    })
}
