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
        let c = &mut config;
        set(
            &get,
            "SERVER_PORT",
            "a port from 0 (any free port) to 65535",
            parse_num,
            &mut c.port,
        )?;
        set(
            &get,
            "SERVER_IP",
            "a name",
            |v| Some(v.trim().to_string()),
            &mut c.ip,
        )?;
        set(
            &get,
            "SERVER_LISTEN_BACKLOG",
            "a positive number",
            positive,
            &mut c.listen_backlog,
        )?;
        set(
            &get,
            "LOGGING_LEVEL",
            "a log level",
            parse_level,
            &mut c.logging_level,
        )?;
        let agencies = |v: &str| parse_num(v).filter(|n| (1..=100_000).contains(n));
        set(
            &get,
            "AGENCIES",
            "a number from 1 to 100000",
            agencies,
            &mut c.agencies,
        )?;
        let path = |v: &str| Some(PathBuf::from(v.trim())).filter(|_| !v.trim().is_empty());
        set(&get, "BETS_FILE", "a file path", path, &mut c.bets_file)?;
        let sync = |v: &str| {
            parse_bool(v).map(|on| {
                if on {
                    SyncMode::Durable
                } else {
                    SyncMode::Relaxed
                }
            })
        };
        set(&get, "SYNC", "true or false", sync, &mut c.sync)?;
        let timeout = |v: &str| parse_duration(v).filter(|d| !d.is_zero());
        set(
            &get,
            "IDLE_TIMEOUT",
            "a duration like 60s",
            timeout,
            &mut c.idle_timeout,
        )?;
        set(
            &get,
            "MAX_SESSIONS",
            "a positive number",
            positive,
            &mut c.max_sessions,
        )?;
        set(
            &get,
            "SECRETS_FILE",
            "a file path or empty",
            |v| Some(optional_path(v)),
            &mut c.secrets_file,
        )?;
        set(&get, "SYSLOG", "true or false", parse_bool, &mut c.syslog)?;
        set(
            &get,
            "SHUTDOWN_GRACE",
            "a duration like 5s",
            parse_duration,
            &mut c.shutdown_grace,
        )?;
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
            _ => None,
        };
        set(&get, "mode", "echo, bet or agency", mode, &mut c.mode)?;
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

/// Applies `key` when it is set: `parse` gives `None` for a value that is not `expected`.
fn set<T>(
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

fn positive<T: std::str::FromStr + Default + PartialOrd>(text: &str) -> Option<T> {
    parse_num(text).filter(|n| *n > T::default())
}

fn optional_path(text: &str) -> Option<PathBuf> {
    (!text.trim().is_empty()).then(|| PathBuf::from(text.trim()))
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
    fn the_shipped_files_equal_the_built_in_defaults() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let none = env_of(&[]);
        let server = ServerConfig::load(&root.join("server/config.ini"), &none).unwrap();
        assert_eq!(server, ServerConfig::default());
        let client = ClientConfig::load(&root.join("client/config.yaml"), &none).unwrap();
        assert_eq!(client, ClientConfig::default());
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("5000000000000000h"), None, "beyond a year");
        assert_eq!(parse_duration("8760h"), Some(MAX_DURATION));
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
