//! Configuration of the server (`config.ini`) and the client (`config.yaml`).
//!
//! Both follow the course: a file in the working directory, each key overridable by an
//! environment variable (the server's of the same name, the client's `CLI_`-prefixed like viper).
//! A missing file means the built-in defaults, which equal the shipped files; an invalid value is
//! an error naming the key, never a panic.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::LevelFilter;

use crate::logging::parse_level;
use crate::storage::SyncMode;

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

fn invalid(key: &str, value: &str, expected: &str) -> ConfigError {
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

/// The server's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// TCP port, on all interfaces; 0 picks a free one (logged at startup).
    pub port: u16,
    /// The name clients dial (`SERVER_IP`); kept for the course's config, not bound.
    pub ip: String,
    /// `listen(2)` backlog.
    pub listen_backlog: i32,
    /// Log level.
    pub logging_level: LevelFilter,
    /// Agencies the draw waits for; valid agency ids are `1..=agencies`.
    pub agencies: u32,
    /// The bets file.
    pub bets_file: PathBuf,
    /// Whether acknowledgements wait for `fdatasync`.
    pub sync: SyncMode,
    /// An upload connection silent this long is closed (waiting for the draw is not idle).
    pub idle_timeout: Duration,
    /// Most session children at once; further connections get a busy error.
    pub max_sessions: usize,
    /// Per-agency secrets (`agency=secret` lines); `None` turns authentication off.
    pub secrets_file: Option<PathBuf>,
    /// Also log to the local syslog.
    pub syslog: bool,
    /// How long children get to exit after SIGTERM before SIGKILL.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 12345,
            ip: "server".into(),
            listen_backlog: 128,
            logging_level: LevelFilter::Debug,
            agencies: 5,
            bets_file: PathBuf::from("./bets.csv"),
            sync: SyncMode::Durable,
            idle_timeout: Duration::from_secs(60),
            max_sessions: 128,
            secrets_file: None,
            syslog: false,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl ServerConfig {
    /// Loads `path` (an INI file with a `[DEFAULT]` section), then applies environment overrides.
    ///
    /// # Errors
    /// An unreadable or unparsable file, or any invalid value, naming the key.
    pub fn load(path: &Path, env: Env<'_>) -> Result<ServerConfig, ConfigError> {
        let ini = if path.exists() {
            Some(ini::Ini::load_from_file(path).map_err(|err| ConfigError {
                key: path.display().to_string(),
                reason: err.to_string(),
            })?)
        } else {
            None
        };
        let get = |key: &str| -> Option<String> {
            env(key).or_else(|| {
                let ini = ini.as_ref()?;
                let section = ini
                    .section(Some("DEFAULT"))
                    .or_else(|| ini.section(None::<String>))?;
                section.get(key).map(str::to_string)
            })
        };
        let mut config = ServerConfig::default();
        if let Some(v) = get("SERVER_PORT") {
            config.port = parse_num(&v).ok_or_else(|| {
                invalid("SERVER_PORT", &v, "a port from 0 (any free port) to 65535")
            })?;
        }
        if let Some(v) = get("SERVER_IP") {
            config.ip = v.trim().to_string();
        }
        if let Some(v) = get("SERVER_LISTEN_BACKLOG") {
            config.listen_backlog = parse_num(&v)
                .filter(|b| *b > 0)
                .ok_or_else(|| invalid("SERVER_LISTEN_BACKLOG", &v, "a positive number"))?;
        }
        if let Some(v) = get("LOGGING_LEVEL") {
            config.logging_level =
                parse_level(&v).ok_or_else(|| invalid("LOGGING_LEVEL", &v, "a log level"))?;
        }
        if let Some(v) = get("AGENCIES") {
            config.agencies = parse_num(&v)
                .filter(|n| (1..=100_000).contains(n))
                .ok_or_else(|| invalid("AGENCIES", &v, "a number from 1 to 100000"))?;
        }
        if let Some(v) = get("BETS_FILE") {
            if v.trim().is_empty() {
                return Err(invalid("BETS_FILE", &v, "a file path"));
            }
            config.bets_file = PathBuf::from(v.trim());
        }
        if let Some(v) = get("SYNC") {
            config.sync = match parse_bool(&v) {
                Some(true) => SyncMode::Durable,
                Some(false) => SyncMode::Relaxed,
                None => return Err(invalid("SYNC", &v, "true or false")),
            };
        }
        if let Some(v) = get("IDLE_TIMEOUT") {
            config.idle_timeout = parse_duration(&v)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| invalid("IDLE_TIMEOUT", &v, "a duration like 60s"))?;
        }
        if let Some(v) = get("MAX_SESSIONS") {
            config.max_sessions = parse_num(&v)
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("MAX_SESSIONS", &v, "a positive number"))?;
        }
        if let Some(v) = get("SECRETS_FILE") {
            config.secrets_file = (!v.trim().is_empty()).then(|| PathBuf::from(v.trim()));
        }
        if let Some(v) = get("SYSLOG") {
            config.syslog = parse_bool(&v).ok_or_else(|| invalid("SYSLOG", &v, "true or false"))?;
        }
        if let Some(v) = get("SHUTDOWN_GRACE") {
            config.shutdown_grace = parse_duration(&v)
                .ok_or_else(|| invalid("SHUTDOWN_GRACE", &v, "a duration like 5s"))?;
        }
        Ok(config)
    }
}

/// What the client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exercises 1–4: echo messages in a loop.
    Echo,
    /// Exercise 5: one bet from the environment.
    Bet,
    /// Exercises 6–8: upload the agency's file, END, winners.
    Agency,
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
        let get = |key: &str| -> Option<String> {
            let env_key = format!("CLI_{}", key.replace('.', "_").to_ascii_uppercase());
            env(&env_key).or_else(|| yaml_lookup(yaml.as_ref()?, key))
        };
        let mut config = ClientConfig::default();
        if let Some(v) = get("id") {
            config.id = parse_num(&v)
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("id", &v, "a positive agency number"))?;
        }
        if let Some(v) = get("server.address") {
            if !v.contains(':') {
                return Err(invalid("server.address", &v, "host:port"));
            }
            config.server_address = v.trim().to_string();
        }
        if let Some(v) = get("loop.amount") {
            config.loop_amount =
                parse_num(&v).ok_or_else(|| invalid("loop.amount", &v, "a count"))?;
        }
        if let Some(v) = get("loop.period") {
            config.loop_period = parse_duration(&v)
                .ok_or_else(|| invalid("loop.period", &v, "a duration like 5s or 100ms"))?;
            config.loop_period_text = v.trim().to_string();
        }
        if let Some(v) = get("log.level") {
            config.log_level =
                parse_level(&v).ok_or_else(|| invalid("log.level", &v, "a log level"))?;
            config.log_level_text = v.trim().to_string();
        }
        if let Some(v) = get("batch.maxAmount") {
            config.batch_max_amount = parse_num(&v)
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("batch.maxAmount", &v, "a number from 1 to 65535"))?;
        }
        if let Some(v) = get("mode") {
            config.mode = match v.trim().to_ascii_lowercase().as_str() {
                "echo" => Mode::Echo,
                "bet" => Mode::Bet,
                "agency" => Mode::Agency,
                _ => return Err(invalid("mode", &v, "echo, bet or agency")),
            };
        }
        if let Some(v) = get("data.file") {
            config.data_file = PathBuf::from(v.trim());
        }
        if let Some(v) = get("retry.timeout") {
            config.retry_timeout = parse_duration(&v)
                .ok_or_else(|| invalid("retry.timeout", &v, "a duration like 30s"))?;
        }
        if let Some(v) = get("batch.window") {
            config.window = parse_num(&v)
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("batch.window", &v, "a positive number"))?;
        }
        if let Some(v) = get("secret.file") {
            config.secret_file = (!v.trim().is_empty()).then(|| PathBuf::from(v.trim()));
        }
        Ok(config)
    }
}

fn yaml_lookup(root: &serde_yaml::Value, dotted: &str) -> Option<String> {
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

fn parse_num<T: std::str::FromStr>(text: &str) -> Option<T> {
    text.trim().parse().ok()
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Parses Go-style durations: `100ms`, `5s`, `1m30s`, `2h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
    }

    fn temp(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("tp0-config-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn server_reads_ini_and_env_wins() {
        let path = temp(
            "server.ini",
            "[DEFAULT]\nSERVER_PORT = 4000\nAGENCIES = 3\nLOGGING_LEVEL = INFO\n",
        );
        let config = ServerConfig::load(&path, &env_of(&[("AGENCIES", "7")])).unwrap();
        assert_eq!(config.port, 4000);
        assert_eq!(config.agencies, 7);
        assert_eq!(config.logging_level, LevelFilter::Info);
        let missing =
            ServerConfig::load(Path::new("/nonexistent/config.ini"), &env_of(&[])).unwrap();
        assert_eq!(missing, ServerConfig::default());
    }

    #[test]
    fn server_errors_name_the_key() {
        let none = Path::new("/nonexistent/config.ini");
        for (key, value) in [
            ("SERVER_PORT", "70000"),
            ("SERVER_PORT", "http"),
            ("AGENCIES", "0"),
            ("SYNC", "maybe"),
            ("LOGGING_LEVEL", "LOUD"),
            ("IDLE_TIMEOUT", "forever"),
        ] {
            let pairs: &'static [(&str, &str)] = Box::leak(Box::new([(key, value)]));
            let err = ServerConfig::load(none, &env_of(pairs)).unwrap_err();
            assert_eq!(err.key, key);
        }
    }

    #[test]
    fn client_reads_nested_yaml_and_cli_env_wins() {
        let path = temp(
            "client.yaml",
            "server:\n  address: \"server:12345\"\nloop:\n  amount: 5\n  period: \"100ms\"\nlog:\n  level: \"DEBUG\"\nbatch:\n  maxAmount: 90\n",
        );
        let config = ClientConfig::load(
            &path,
            &env_of(&[("CLI_ID", "4"), ("CLI_BATCH_MAXAMOUNT", "50")]),
        )
        .unwrap();
        assert_eq!(config.id, 4);
        assert_eq!(config.batch_max_amount, 50);
        assert_eq!(config.loop_period, Duration::from_millis(100));
        assert_eq!(config.loop_period_text, "100ms");
        assert_eq!(config.log_level, LevelFilter::Debug);
        let err = ClientConfig::load(&path, &env_of(&[("CLI_MODE", "dance")])).unwrap_err();
        assert_eq!(err.key, "mode");
        let broken = temp("broken.yaml", "server: [unclosed");
        assert!(ClientConfig::load(&broken, &env_of(&[])).is_err());
    }
}

/// Per-agency secrets, loaded from `SECRETS_FILE`: one `agency=secret` per line, `#` comments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    by_agency: std::collections::HashMap<u32, Vec<u8>>,
}

impl Secrets {
    /// Reads a secrets file.
    ///
    /// # Errors
    /// The file cannot be read, or a line is not `agency=secret` with a non-empty secret.
    pub fn load(path: &Path) -> Result<Secrets, ConfigError> {
        let key = || "SECRETS_FILE".to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError {
            key: key(),
            reason: format!("{}: {err}", path.display()),
        })?;
        Secrets::parse(&text).map_err(|reason| ConfigError { key: key(), reason })
    }

    /// Parses `agency=secret` lines.
    ///
    /// # Errors
    /// The first bad line, by number.
    pub fn parse(text: &str) -> Result<Secrets, String> {
        let mut by_agency = std::collections::HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line.split_once('=').and_then(|(agency, secret)| {
                let secret = secret.trim();
                Some((agency.trim().parse::<u32>().ok()?, secret)).filter(|_| !secret.is_empty())
            });
            let Some((agency, secret)) = parsed else {
                return Err(format!("line {} is not agency=secret", number + 1));
            };
            by_agency.insert(agency, secret.as_bytes().to_vec());
        }
        Ok(Secrets { by_agency })
    }

    /// Whether `secret` is the agency's; an agency without a secret is refused.
    pub fn accepts(&self, agency: u32, secret: &[u8]) -> bool {
        let Some(expected) = self.by_agency.get(&agency) else {
            return false;
        };
        // Compare every byte so the time taken does not tell how much of a guess was right.
        expected.len() == secret.len()
            && expected
                .iter()
                .zip(secret)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod secret_tests {
    use super::Secrets;

    #[test]
    fn secrets_accept_only_the_agencys_own() {
        let secrets = Secrets::parse("# agencies\n1 = uno\n2=dos\n").unwrap();
        assert!(secrets.accepts(1, b"uno"));
        assert!(!secrets.accepts(1, b"dos"));
        assert!(!secrets.accepts(2, b""));
        assert!(!secrets.accepts(3, b"uno"));
        assert!(Secrets::parse("1=\n").is_err());
        assert!(Secrets::parse("uno=1\n").is_err());
    }
}
