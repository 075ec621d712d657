//! The client's settings: `config.yaml`, each key overridable by a `CLI_` variable (like viper).

use std::path::{Path, PathBuf};
use std::time::Duration;

use log::LevelFilter;

use super::parse::{optional_path, parse_duration, parse_num, positive, set, yaml_lookup};
use super::{ConfigError, Env};
use crate::logging::parse_level;

/// What the client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exercises 1–4: echo messages in a loop.
    Echo,
    /// Exercise 5: one bet from the environment.
    Bet,
    /// Exercises 6–8: upload the agency's file, END, winners.
    Agency,
    /// Only check the agency's file, as an upload does before it connects; nothing is sent.
    Check,
}

/// The client's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Agency number.
    pub id: u32,
    /// `host:port` of the server.
    pub server_address: String,
    /// Echo messages to send.
    pub loop_amount: u32,
    /// Pause between echo messages.
    pub loop_period: Duration,
    /// The period as written in the configuration, for the config log line.
    pub loop_period_text: String,
    /// Log level.
    pub log_level: LevelFilter,
    /// The level as written.
    pub log_level_text: String,
    /// Most bets per batch (the 8 kB frame limit holds regardless).
    pub batch_max_amount: u16,
    /// What to do.
    pub mode: Mode,
    /// The agency's bets (CSV).
    pub data_file: PathBuf,
    /// How long to keep retrying a lost or refused connection before giving up.
    pub retry_timeout: Duration,
    /// Batches sent ahead of their acknowledgements.
    pub window: usize,
    /// A file holding this agency's secret, when the server requires one.
    pub secret_file: Option<PathBuf>,
    /// The keys a `CLI_` environment variable set, overriding the file (logged at DEBUG).
    pub env_overrides: Vec<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            id: 1,
            server_address: "server:12345".into(),
            loop_amount: 5,
            loop_period: Duration::from_secs(5),
            loop_period_text: "5s".into(),
            log_level: LevelFilter::Info,
            log_level_text: "INFO".into(),
            batch_max_amount: 120,
            mode: Mode::Agency,
            data_file: PathBuf::from("./agency.csv"),
            retry_timeout: Duration::from_secs(30),
            window: 64,
            secret_file: None,
            env_overrides: Vec::new(),
        }
    }
}

impl ClientConfig {
    /// Loads `path` (YAML), then applies `CLI_*` environment overrides.
    ///
    /// # Errors
    /// An unreadable or unparsable file, or any invalid value, naming the key.
    pub fn load(path: &Path, env: Env<'_>) -> Result<ClientConfig, ConfigError> {
        let yaml: Option<serde_yaml::Value> = if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
                key: path.display().to_string(),
                reason: err.to_string(),
            })?;
            Some(serde_yaml::from_str(&text).map_err(|err| ConfigError {
                key: path.display().to_string(),
                reason: err.to_string(),
            })?)
        } else {
            None
        };
        let from_env = std::cell::RefCell::new(Vec::new());
        let get = |key: &str| -> Option<String> {
            let env_key = format!("CLI_{}", key.replace('.', "_").to_ascii_uppercase());
            if let Some(value) = env(&env_key) {
                from_env.borrow_mut().push(key.to_string());
                return Some(value);
            }
            yaml_lookup(yaml.as_ref()?, key)
        };
        let mut config = ClientConfig::default();
        let c = &mut config;
        set(&get, "id", "a positive agency number", positive, &mut c.id)?;
        let address = |v: &str| Some(v.trim().to_string()).filter(|a| a.contains(':'));
        set(
            &get,
            "server.address",
            "host:port",
            address,
            &mut c.server_address,
        )?;
        set(
            &get,
            "loop.amount",
            "a count",
            parse_num,
            &mut c.loop_amount,
        )?;
        let period = |v: &str| Some((parse_duration(v)?, v.trim().to_string()));
        let mut loop_period = (c.loop_period, c.loop_period_text.clone());
        set(
            &get,
            "loop.period",
            "a duration like 5s or 100ms",
            period,
            &mut loop_period,
        )?;
        (c.loop_period, c.loop_period_text) = loop_period;
        let level = |v: &str| Some((parse_level(v)?, v.trim().to_string()));
        let mut log_level = (c.log_level, c.log_level_text.clone());
        set(&get, "log.level", "a log level", level, &mut log_level)?;
        (c.log_level, c.log_level_text) = log_level;
        set(
            &get,
            "batch.maxAmount",
            "a number from 1 to 65535",
            positive,
            &mut c.batch_max_amount,
        )?;
        let mode = |v: &str| match v.trim().to_ascii_lowercase().as_str() {
            "echo" => Some(Mode::Echo),
            "bet" => Some(Mode::Bet),
            "agency" => Some(Mode::Agency),
            "check" => Some(Mode::Check),
            _ => None,
        };
        set(
            &get,
            "mode",
            "echo, bet, agency or check",
            mode,
            &mut c.mode,
        )?;
        set(
            &get,
            "data.file",
            "a file path",
            |v| Some(PathBuf::from(v.trim())),
            &mut c.data_file,
        )?;
        set(
            &get,
            "retry.timeout",
            "a duration like 30s",
            parse_duration,
            &mut c.retry_timeout,
        )?;
        set(
            &get,
            "batch.window",
            "a positive number",
            positive,
            &mut c.window,
        )?;
        set(
            &get,
            "secret.file",
            "a file path or empty",
            |v| Some(optional_path(v)),
            &mut c.secret_file,
        )?;
        c.env_overrides = from_env.into_inner();
        Ok(config)
    }
}
