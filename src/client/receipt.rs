//! The agency's side of the receipt: the digest of its own file's bets, kept as they are sent,
//! and the check of the central's `RECEIPT` against it.
//!
//! Every attempt hashes its file from the first row: the rows skipped because the central already
//! has them (a resume) are read and hashed like the rows sent, so the digest always covers the
//! whole file whatever happened to earlier connections. The rows are the ones the check before
//! connecting validated (the same version of the file), so their fields are hashed as read.

use std::path::Path;

use super::source::{BadRow, BetSource, FileStamp};
use super::ClientError;
use crate::domain::{Digest, RawBet, Receipt, ReceiptBuilder};

/// A [`BetSource`] that adds every bet it yields, skipped ones included, to a receipt.
pub(super) struct HashedSource {
    source: BetSource,
    receipt: ReceiptBuilder,
}

impl HashedSource {
    /// Opens `path`, the version `checked` saw, and reads (and hashes) its first `skip` bets,
    /// which the central already has.
    ///
    /// # Errors
    /// The file cannot be read, is not the one checked, a row is not a bet, or the file has
    /// fewer than `skip` bets.
    pub(super) fn open(
        path: &Path,
        checked: &FileStamp,
        skip: u64,
    ) -> Result<HashedSource, String> {
        let mut source = HashedSource {
            source: BetSource::open(path, checked, 0)?,
            receipt: ReceiptBuilder::new(),
        };
        for skipped in 0..skip {
            let row = source
                .next_raw()
                .map_err(|bad| format!("{} {bad}", path.display()))?;
            if row.is_none() {
                return Err(format!(
                    "{}: the server holds {skip} bets of this agency but the file has {skipped}",
                    path.display()
                ));
            }
        }
        Ok(source)
    }

    /// The next bet's raw fields, added to the receipt; `None` at the end of the file.
    ///
    /// # Errors
    /// As [`BetSource::next_raw`].
    pub(super) fn next_raw(&mut self) -> Result<Option<RawBet<'_>>, BadRow> {
        let raw = self.source.next_raw()?;
        if let Some(raw) = &raw {
            // Checked: the number is its canonical decimal text, as the central stores it.
            self.receipt.add_fields([
                raw.first_name,
                raw.last_name,
                raw.document,
                raw.birthdate,
                raw.number,
            ]);
        }
        Ok(raw)
    }

    /// The receipt of every bet read so far.
    pub(super) fn receipt(&self) -> Receipt {
        self.receipt.receipt()
    }
}

/// The receipt of the whole file at `path` (an agency whose END the central already has).
///
/// # Errors
/// As [`HashedSource::open`].
pub(super) fn of_file(path: &Path, checked: &FileStamp) -> Result<Receipt, String> {
    let mut source = HashedSource::open(path, checked, 0)?;
    while source
        .next_raw()
        .map_err(|bad| format!("{} {bad}", path.display()))?
        .is_some()
    {}
    Ok(source.receipt())
}

/// Compares the central's receipt with ours and logs the verdict; a difference is fatal: the
/// bets the draw read are not this agency's file.
///
/// # Errors
/// [`ClientError::Fatal`] when the counts or digests differ.
pub(super) fn verify(ours: &Receipt, count: u64, digest: [u8; 32]) -> Result<(), ClientError> {
    let central = Receipt {
        count,
        digest: Digest(digest),
    };
    if *ours == central {
        log::info!(
            "action: verificacion | result: success | cantidad: {} | digest: {}",
            ours.count,
            ours.digest
        );
        return Ok(());
    }
    log::error!(
        "action: verificacion | result: fail | cantidad: {} | digest: {} | central_cantidad: {} | central_digest: {}",
        ours.count,
        ours.digest,
        central.count,
        central.digest
    );
    Err(ClientError::Fatal(format!(
        "the central read {} bets with digest {} for this agency; its file has {} with digest {}",
        central.count, central.digest, ours.count, ours.digest
    )))
}
