//! The product's log lines as the bench reads them: `action: X | result: Y | key: value`, the
//! course's format, split into fields.

/// The `key: value` fields of a log line, after `action: `.
pub fn fields(line: &str) -> Vec<(&str, &str)> {
    let line = line.find("action: ").map_or("", |at| &line[at..]);
    let parts = line.split(" | ").filter_map(|part| part.split_once(": "));
    parts.map(|(k, v)| (k.trim(), v.trim())).collect()
}

/// A field's value, parsed.
pub fn get<T: std::str::FromStr>(fields: &[(&str, &str)], key: &str) -> Option<T> {
    fields.iter().find(|(k, _)| *k == key)?.1.parse().ok()
}

/// Whether a log line's fields say `action: <action> | result: success`.
pub fn succeeded(fields: &[(&str, &str)], action: &str) -> bool {
    let is = |key, value| fields.contains(&(key, value));
    is("action", action) && is("result", "success")
}

/// Why `got`, `field` of the last `line` success line of a log, is not `want` (if it is not).
pub fn mismatch(got: Option<u64>, want: u64, field: &str, line: &str) -> Option<String> {
    match got {
        Some(n) if n == want => None,
        Some(n) => Some(format!("{field} {n}, expected {want}")),
        None => Some(format!("no {line} success line")),
    }
}
