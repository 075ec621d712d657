//! Reading the children's log files: streamed lines and the `key: value` fields of a log line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::harness::ctx::{fail, RunError};

/// The `key: value` details of a log line, after `action: `.
pub fn fields(line: &str) -> Option<Vec<(&str, &str)>> {
    let start = line.find("action: ")?;
    Some(
        line[start..]
            .split(" | ")
            .filter_map(|part| part.split_once(": "))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect(),
    )
}

/// A field's value.
pub fn field<'a>(fields: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A numeric field's value.
pub fn num_field(fields: &[(&str, &str)], key: &str) -> Option<u64> {
    field(fields, key)?.parse().ok()
}

/// Calls `each` with every line of a file, without its line ending; bytes that are not UTF-8
/// are replaced. Streams, so that the bench itself stays small whatever the file's size.
pub fn for_each_line(path: &Path, mut each: impl FnMut(&str)) -> Result<(), RunError> {
    let file = File::open(path).map_err(fail(format!("open {}", path.display())))?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(fail(format!("read {}", path.display())))?;
        if n == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&buf);
        each(line.trim_end_matches(['\r', '\n']));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_a_log_line() {
        let f = fields(
            "2026-01-01 00:00:00 DEBUG    action: draw_scan | result: success | bets: 9 | us: 3",
        )
        .unwrap_or_default();
        assert_eq!(num_field(&f, "us"), Some(3));
        assert_eq!(field(&f, "action"), Some("draw_scan"));
        assert_eq!(field(&f, "missing"), None);
        assert!(fields("no action here").is_none());
    }
}
