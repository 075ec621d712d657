//! The agency's bets file, read one row at a time and never loaded whole: what a valid agency file
//! is (`docs/agency-files.md`) is decided here, for the check before connecting and the upload.
//!
//! Besides bets, a file may hold what editors and spreadsheets add: empty lines, a leading UTF-8
//! byte-order mark and a first row of column names. None of them is a bet, so positions the
//! server reports count bets, not rows, and rows are named by the line an editor shows.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::domain::{Bet, BetError, Field};
use crate::protocol::RawBet;
use crate::rows::{Fields, RowReader};

/// The course's column names, in the order of a row, in Spanish and in English (its `utils.py`).
const COLUMNS: [[&str; 5]; 2] = [
    ["nombre", "apellido", "documento", "nacimiento", "numero"],
    ["first_name", "last_name", "document", "birthdate", "number"],
];

/// Why a row of an agency file is not a bet.
#[derive(Debug)]
pub enum Problem {
    /// It does not have five fields (it has this many).
    Fields(usize),
    /// A field is not valid.
    Bet(BetError),
    /// The column names, but not as the file's first row.
    Header,
    /// The row cannot be read (a quote never closed, a read error): nothing after it is read.
    Unreadable(io::Error),
}

/// A row that is not a bet: the line it starts on, from 1, and what is wrong with it.
#[derive(Debug)]
pub struct BadRow {
    /// The line, as an editor numbers them (empty lines count).
    pub line: u64,
    /// What is wrong.
    pub problem: Problem,
}

impl BadRow {
    /// The Spanish column name of the field at fault, when one field is.
    pub fn field(&self) -> Option<&'static str> {
        let Problem::Bet(err) = &self.problem else {
            return None;
        };
        let index = match err.field {
            Field::FirstName => 0,
            Field::LastName => 1,
            Field::Document => 2,
            Field::Birthdate => 3,
            Field::Number => 4,
        };
        Some(COLUMNS[0][index])
    }

    /// Whether reading stops at this row.
    pub fn is_unreadable(&self) -> bool {
        matches!(self.problem, Problem::Unreadable(_))
    }

    /// What is wrong, without the field's name.
    pub fn reason(&self) -> String {
        match &self.problem {
            Problem::Fields(count) => {
                format!("{count} fields, expected 5 ({})", COLUMNS[0].join(","))
            }
            Problem::Bet(err) => err.reason.to_string(),
            Problem::Header => "column names are only allowed as the first row".into(),
            Problem::Unreadable(err) => err.to_string(),
        }
    }
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}: ", self.line)?;
        if let Some(field) = self.field() {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.reason())
    }
}

/// What was skipped so far, besides bets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// The file started with a UTF-8 byte-order mark.
    pub byte_order_mark: bool,
    /// The line of the header row, if the file has one.
    pub header: Option<u64>,
    /// Empty lines.
    pub blank_lines: u64,
}

/// Which file, and which version of it, a reading saw: device, inode, length, modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: (i64, i64),
}

impl FileStamp {
    fn of(file: &File) -> io::Result<FileStamp> {
        let meta = file.metadata()?;
        Ok(FileStamp {
            device: meta.dev(),
            inode: meta.ino(),
            len: meta.len(),
            modified: (meta.mtime(), meta.mtime_nsec()),
        })
    }
}

/// A CSV of bets (`nombre,apellido,documento,nacimiento,numero`, CRLF or LF, UTF-8).
pub struct BetSource {
    path: PathBuf,
    reader: RowReader<File>,
    stamp: FileStamp,
    /// Whether a row other than an empty line was read: only the first such row may be a header.
    started: bool,
    skipped: Skipped,
}

/// Whether every field of `fields` is one of `names`, ignoring letter case.
fn is_header(fields: &Fields<'_>) -> bool {
    fields.len() == 5
        && COLUMNS.iter().any(|names| {
            names
                .iter()
                .enumerate()
                .all(|(i, name)| fields.get(i).eq_ignore_ascii_case(name.as_bytes()))
        })
}

impl BetSource {
    /// Opens `path`, the file `checked` saw, and skips its first `skip` bets (already stored by
    /// the server).
    ///
    /// # Errors
    /// The file cannot be opened or read, is not the one checked (replaced or written since), or
    /// it has fewer than `skip` rows that may be bets.
    pub fn open(path: &Path, checked: &FileStamp, skip: u64) -> Result<BetSource, String> {
        let mut source = BetSource::start(path)?;
        if source.stamp != *checked {
            return Err(format!(
                "{}: the file changed after it was checked; start the client again to check it anew",
                path.display()
            ));
        }
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

    /// Opens `path` at its start, past a byte-order mark.
    ///
    /// # Errors
    /// The file cannot be opened or its first bytes read.
    pub fn start(path: &Path) -> Result<BetSource, String> {
        let fail = |err: io::Error| format!("{}: {err}", path.display());
        let file = File::open(path).map_err(fail)?;
        let stamp = FileStamp::of(&file).map_err(fail)?;
        let mut reader = RowReader::new(file);
        let byte_order_mark = reader.skip_byte_order_mark().map_err(fail)?;
        Ok(BetSource {
            path: path.to_path_buf(),
            reader,
            stamp,
            started: false,
            skipped: Skipped {
                byte_order_mark,
                ..Skipped::default()
            },
        })
    }

    /// The version of the file this reading opened.
    pub fn stamp(&self) -> FileStamp {
        self.stamp
    }

    /// What was skipped so far: a mark, a header, empty lines.
    pub fn skipped(&self) -> Skipped {
        self.skipped
    }

    /// The next row that is not an empty line or the header; `None` at the end.
    fn next_fields(&mut self) -> Result<Option<Fields<'_>>, BadRow> {
        loop {
            let line = self.reader.next_line();
            let fields = match self.reader.next_row() {
                Ok(Some(fields)) => fields,
                Ok(None) => return Ok(None),
                Err(err) => {
                    return Err(BadRow {
                        line,
                        problem: Problem::Unreadable(err),
                    })
                }
            };
            if fields.is_blank() {
                self.skipped.blank_lines += 1;
                continue;
            }
            let first = !self.started;
            self.started = true;
            if first && is_header(&fields) {
                self.skipped.header = Some(line);
                continue;
            }
            break;
        }
        // Read again rather than returned from the loop, which the borrow checker refuses
        // (a borrow returned from one iteration is taken as live in the next).
        Ok(Some(self.reader.fields()))
    }

    /// Whether a row that may be a bet was skipped over; `false` at the end.
    fn advance(&mut self) -> Result<bool, String> {
        match self.next_fields() {
            Ok(row) => Ok(row.is_some()),
            Err(bad) => Err(format!("{} {bad}", self.path.display())),
        }
    }

    /// The next row that should be a bet, validated; `None` at the end.
    ///
    /// # Errors
    /// The row is not a bet, or cannot be read (then no row after it can).
    pub fn next_checked(&mut self) -> Result<Option<Bet<'_>>, BadRow> {
        let Some(fields) = self.next_fields()? else {
            return Ok(None);
        };
        let line = fields.line();
        let problem = if fields.len() != 5 {
            Problem::Fields(fields.len())
        } else {
            match Bet::validate(&raw_bet(&fields)) {
                Ok(bet) => return Ok(Some(bet)),
                Err(_) if is_header(&fields) => Problem::Header,
                Err(err) => Problem::Bet(err),
            }
        };
        Err(BadRow { line, problem })
    }

    /// The next bet of a file [`open`](Self::open)ed as checked, as its raw fields; `None` at the
    /// end of the file. The fields are not validated again: the check did it for this version of
    /// the file, and the server validates every bet it stores. A second validation here was a
    /// third of the client's CPU per bet.
    ///
    /// # Errors
    /// A read error, or a row without five fields.
    pub fn next_raw(&mut self) -> Result<Option<RawBet<'_>>, BadRow> {
        let Some(fields) = self.next_fields()? else {
            return Ok(None);
        };
        if fields.len() != 5 {
            return Err(BadRow {
                line: fields.line(),
                problem: Problem::Fields(fields.len()),
            });
        }
        Ok(Some(raw_bet(&fields)))
    }
}

/// The five fields of a row as a bet's raw fields.
fn raw_bet<'a>(fields: &Fields<'a>) -> RawBet<'a> {
    RawBet {
        first_name: fields.get(0),
        last_name: fields.get(1),
        document: fields.get(2),
        birthdate: fields.get(3),
        number: fields.get(4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_refuses_a_file_changed_after_its_check() {
        let path = std::env::temp_dir().join(format!("tp0-stamp-{}.csv", std::process::id()));
        std::fs::write(&path, "Ana,Lorca,1,1999-03-17,7574\r\n").unwrap();
        let checked = BetSource::start(&path).unwrap().stamp();
        assert!(BetSource::open(&path, &checked, 1).is_ok());
        std::fs::write(&path, "Ana,Lorca,1,1999-03-17,7574\r\nBo,x,y,z,w\r\n").unwrap();
        let refused = BetSource::open(&path, &checked, 0)
            .err()
            .unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        assert!(
            refused.contains("changed after it was checked"),
            "{refused}"
        );
    }
}
