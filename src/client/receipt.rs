//! The agency's side of the receipt: the check of the central's `RECEIPT` against the receipt of
//! its own file, which the check before connecting computed (`check::CheckedFile`) over the very
//! version of the file every attempt sends, so it covers the whole file whatever happened to
//! earlier connections.

use super::ClientError;
use crate::domain::{Digest, Receipt};

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
