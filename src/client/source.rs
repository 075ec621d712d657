//! The agency's bets file, streamed one row at a time and never loaded whole.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::domain::Bet;
use crate::protocol::RawBet;

/// A CSV of bets (`first_name,last_name,document,birthdate,number`, CRLF or LF, UTF-8).
pub struct BetSource {
    path: PathBuf,
    reader: csv::Reader<BufReader<File>>,
    record: csv::ByteRecord,
}

impl BetSource {
    /// Opens `path` and skips its first `skip` rows (already stored by the server).
    ///
    /// # Errors
    /// The file cannot be opened or read, or it has fewer than `skip` rows.
    pub fn open(path: &Path, skip: u64) -> Result<BetSource, String> {
        let file = File::open(path).map_err(|err| format!("{}: {err}", path.display()))?;
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(64 * 1024, file));
        let mut source = BetSource {
            path: path.to_path_buf(),
            reader,
            record: csv::ByteRecord::new(),
        };
        for skipped in 0..skip {
            if !source.advance()? {
                return Err(format!(
                    "{}: the server holds {skip} bets of this agency but the file has {skipped}",
                    path.display()
                ));
            }
        }
        Ok(source)
    }

    fn advance(&mut self) -> Result<bool, String> {
        self.reader
            .read_byte_record(&mut self.record)
            .map_err(|err| format!("{}: {err}", self.path.display()))
    }

    /// The next bet, validated; `None` at the end of the file.
    ///
    /// # Errors
    /// A read error, or a row that is not a valid bet (with its line number).
    pub fn next_bet(&mut self) -> Result<Option<Bet<'_>>, String> {
        if !self.advance()? {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        if self.record.len() != 5 {
            return Err(format!(
                "{} line {line}: {} fields, expected 5 (nombre,apellido,documento,nacimiento,numero)",
                self.path.display(),
                self.record.len()
            ));
        }
        let raw = RawBet {
            first_name: &self.record[0],
            last_name: &self.record[1],
            document: &self.record[2],
            birthdate: &self.record[3],
            number: &self.record[4],
        };
        Bet::validate(&raw)
            .map(Some)
            .map_err(|err| format!("{} line {line}: {err}", self.path.display()))
    }
}
