//! The agency's bets file, streamed one row at a time and never loaded whole.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::domain::Bet;
use crate::protocol::RawBet;
use crate::rows::RowReader;

/// A CSV of bets (`first_name,last_name,document,birthdate,number`, CRLF or LF, UTF-8).
pub struct BetSource {
    path: PathBuf,
    reader: RowReader<File>,
}

impl BetSource {
    /// Opens `path` and skips its first `skip` rows (already stored by the server).
    ///
    /// # Errors
    /// The file cannot be opened or read, or it has fewer than `skip` rows.
    pub fn open(path: &Path, skip: u64) -> Result<BetSource, String> {
        let file = File::open(path).map_err(|err| format!("{}: {err}", path.display()))?;
        let mut source = BetSource {
            path: path.to_path_buf(),
            reader: RowReader::new(file),
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
        let line = self.reader.rows() + 1;
        match self.reader.next_row() {
            Ok(row) => Ok(row.is_some()),
            Err(err) => Err(format!("{} row {line}: {err}", self.path.display())),
        }
    }

    /// The next bet, validated; `None` at the end of the file.
    ///
    /// # Errors
    /// A read error, or a row that is not a valid bet (with its line number).
    pub fn next_bet(&mut self) -> Result<Option<Bet<'_>>, String> {
        let path = &self.path;
        let line = self.reader.rows() + 1;
        let fields = match self.reader.next_row() {
            Ok(Some(fields)) => fields,
            Ok(None) => return Ok(None),
            Err(err) => return Err(format!("{} row {line}: {err}", path.display())),
        };
        if fields.len() != 5 {
            return Err(format!(
                "{} row {line}: {} fields, expected 5 (nombre,apellido,documento,nacimiento,numero)",
                path.display(),
                fields.len()
            ));
        }
        let raw = RawBet {
            first_name: fields.get(0),
            last_name: fields.get(1),
            document: fields.get(2),
            birthdate: fields.get(3),
            number: fields.get(4),
        };
        Bet::validate(&raw)
            .map(Some)
            .map_err(|err| format!("{} row {line}: {err}", path.display()))
    }
}
