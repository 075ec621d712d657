//! The check's work on each row as the upload sends it: none for `client`, whose check before
//! connecting did it on this very version of the file; validating and hashing for the bench's
//! `client-one-pass` (feature `one-pass-client`), which reads its file only as it sends it, so
//! `make bench` can set the two side by side.

use std::path::Path;

use super::check::CheckedFile;
use super::ClientError;
use crate::protocol::RawBet;

/// What is left to do on each row as it is sent.
pub(super) struct AsSent {
    /// The receipt of the rows sent, where this upload hashes them.
    #[cfg(feature = "one-pass-client")]
    receipt: Option<crate::domain::ReceiptBuilder>,
}

#[cfg(not(feature = "one-pass-client"))]
impl AsSent {
    /// Nothing: the check before connecting did it all.
    pub(super) fn of(_checked: &CheckedFile) -> AsSent {
        AsSent {}
    }

    /// Nothing to do on a row the check validated.
    #[inline]
    pub(super) fn row(&mut self, _raw: &RawBet<'_>, _file: &Path) -> Result<(), ClientError> {
        Ok(())
    }

    /// Nothing to report.
    pub(super) fn finish(self) {}
}

#[cfg(feature = "one-pass-client")]
impl AsSent {
    /// Validating and hashing each row when `checked` has no receipt (no check ran before).
    pub(super) fn of(checked: &CheckedFile) -> AsSent {
        let receipt = checked.receipt.is_none();
        AsSent {
            receipt: receipt.then(crate::domain::ReceiptBuilder::new),
        }
    }

    /// Validates the row about to be sent and adds it to the receipt.
    pub(super) fn row(&mut self, raw: &RawBet<'_>, file: &Path) -> Result<(), ClientError> {
        if let Some(receipt) = self.receipt.as_mut() {
            let bet = crate::domain::Bet::validate(raw)
                .map_err(|err| ClientError::Fatal(format!("{}: {err}", file.display())))?;
            receipt.add_raw(&bet.raw());
        }
        Ok(())
    }

    /// Logs the receipt of what was sent (not compared: rows a resume skipped are not in it).
    pub(super) fn finish(self) {
        if let Some(receipt) = self.receipt.map(|r| r.receipt()) {
            log::info!(
                "action: receipt_as_sent | result: success | cantidad: {} | digest: {}",
                receipt.count,
                receipt.digest
            );
        }
    }
}

#[cfg(all(test, feature = "one-pass-client"))]
mod tests {
    use super::*;
    use crate::client::BetSource;
    use crate::domain::ReceiptBuilder;

    fn raw<'a>(first_name: &'a [u8], number: &'a [u8]) -> RawBet<'a> {
        RawBet {
            first_name,
            last_name: b"Lorca",
            document: b"30904465",
            birthdate: b"1999-03-17",
            number,
        }
    }

    #[test]
    fn only_an_unchecked_file_is_validated_and_hashed_as_sent() {
        let path = std::env::temp_dir().join(format!("tp0-as-sent-{}.csv", std::process::id()));
        std::fs::write(&path, "Ana,Lorca,30904465,1999-03-17,7574\r\n").unwrap();
        let stamp = BetSource::start(&path).unwrap().stamp();
        let _ = std::fs::remove_file(&path);
        let file = Path::new("agency.csv");
        let ours = ReceiptBuilder::new().receipt();
        let checked = CheckedFile {
            stamp,
            receipt: Some(ours),
        };
        // Checked before connecting: nothing left to do, even on a row the check would refuse.
        let mut done = AsSent::of(&checked);
        assert!(done.row(&raw(b"Ana", b"x"), file).is_ok());
        assert!(done.receipt.is_none());

        let unchecked = CheckedFile {
            stamp,
            receipt: None,
        };
        let mut once = AsSent::of(&unchecked);
        assert!(once.row(&raw(b"Ana", b"7574"), file).is_ok());
        let refused = once.row(&raw(b"Ana", b"x"), file);
        assert!(matches!(refused, Err(ClientError::Fatal(why)) if why.starts_with("agency.csv")));
        let mut expected = ReceiptBuilder::new();
        expected.add_raw(&raw(b"Ana", b"7574"));
        let hashed = once.receipt.map(|r| r.receipt());
        assert_eq!(hashed, Some(expected.receipt()));
    }
}
