//! Configuration of the server (`config.ini`) and the client (`config.yaml`).
//!
//! Both follow the course: a file in the working directory, each key overridable by an
//! environment variable (the server's of the same name, the client's `CLI_`-prefixed like viper).
//! A missing file means the built-in defaults, which equal the shipped files; an invalid value is
//! an error naming the key, never a panic.
//!
//! One file per job: `server` and `client` (each config's keys, defaults and loading), `secrets`
//! (the per-agency secrets file), `parse` (values and durations, shared by both).

mod client;
mod parse;
mod secrets;
mod server;
#[cfg(test)]
mod tests;

pub use client::{ClientConfig, Mode};
pub use parse::{parse_duration, MAX_DURATION};
pub use secrets::Secrets;
pub use server::{ServerConfig, MIN_BACKLOG};

/// Whether an acknowledgement waits for the disk (the server's `SYNC` key); storage takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// `fdatasync` covers a batch before it is acknowledged (the default).
    Durable,
    /// Acknowledge once the batch is in the page cache: a server crash loses nothing, a power
    /// cut may lose the last acknowledged batches.
    Relaxed,
}

use std::fmt;

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (or file) at fault.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration {}: {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn invalid(key: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        reason: format!("{value:?} is not {expected}"),
    }
}

/// Reads a configuration value, environment first.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`ServerConfig::load`] and [`ClientConfig::load`].
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}
