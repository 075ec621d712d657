//! Parsing configuration values: numbers, booleans, paths, Go-style durations, and dotted YAML
//! keys; [`set`] applies one key and names it when its value is invalid.

use std::path::PathBuf;
use std::time::Duration;

use super::{invalid, ConfigError};

pub(super) fn yaml_lookup(root: &serde_yaml::Value, dotted: &str) -> Option<String> {
    let mut node = root;
    for part in dotted.split('.') {
        node = node.get(part)?;
    }
    match node {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Applies `key` when it is set: `parse` gives `None` for a value that is not `expected`.
pub(super) fn set<T>(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    expected: &str,
    parse: impl Fn(&str) -> Option<T>,
    target: &mut T,
) -> Result<(), ConfigError> {
    if let Some(value) = get(key) {
        *target = parse(&value).ok_or_else(|| invalid(key, &value, expected))?;
    }
    Ok(())
}

pub(super) fn positive<T: std::str::FromStr + Default + PartialOrd>(text: &str) -> Option<T> {
    parse_num(text).filter(|n| *n > T::default())
}

/// A positive number, or `Some(None)` for an empty value (derived from other keys).
pub(super) fn optional_positive<T: std::str::FromStr + Default + PartialOrd>(
    text: &str,
) -> Option<Option<T>> {
    match text.trim() {
        "" => Some(None),
        n => positive(n).map(Some),
    }
}

pub(super) fn optional_path(text: &str) -> Option<PathBuf> {
    (!text.trim().is_empty()).then(|| PathBuf::from(text.trim()))
}

pub(super) fn parse_num<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.trim().parse().ok()
}

pub(super) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The longest duration accepted; larger values would overflow deadlines (`Instant + Duration`).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Parses Go-style durations: `100ms`, `5s`, `1m30s`, `2h`; a bare number is seconds. At most a
/// year ([`MAX_DURATION`]).
pub fn parse_duration(text: &str) -> Option<Duration> {
    parse_duration_unbounded(text).filter(|d| *d <= MAX_DURATION)
}

fn parse_duration_unbounded(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::try_from_secs_f64(value * scale).ok()?;
    }
    Some(total)
}
