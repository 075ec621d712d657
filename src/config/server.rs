//! The server's settings: `config.ini` (`[DEFAULT]`), each key overridable by an environment
//! variable of the same name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use log::LevelFilter;

use super::parse::{optional_path, optional_positive, parse_bool, parse_duration, parse_num, set};
use super::{ConfigError, Env, SyncMode};
use crate::logging::parse_level;

/// The server's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// TCP port, on all interfaces; 0 picks a free one (logged at startup).
    pub port: u16,
    /// The name clients dial (`SERVER_IP`, the course's key): read, and logged in the server's
    /// `action: config` line, but not bound. The server listens on every interface, as the
    /// course's own server does (`bind(('', port))`): the name is the clients' to resolve (in
    /// compose it is the service's address), and it need not resolve where the server runs.
    pub ip: String,
    /// `listen(2)` backlog as configured; `None` (empty, the default) derives it from `AGENCIES`
    /// and `MAX_SESSIONS`, see [`ServerConfig::backlog`].
    pub listen_backlog: Option<i32>,
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
    /// A frame or echo line must be whole this long after its first byte, however slowly its
    /// bytes come (slow bytes must not hold a session).
    pub frame_timeout: Duration,
    /// Most sessions of unidentified peers (echo, or no `HELLO` granted yet) at once, as
    /// configured; `None` (empty, the default) derives it from `AGENCIES`, see
    /// [`ServerConfig::max_sessions`].
    pub max_sessions: Option<usize>,
    /// Per-agency secrets (`agency=secret` lines); `None` turns authentication off.
    pub secrets_file: Option<PathBuf>,
    /// Also log to the local syslog.
    pub syslog: bool,
    /// How long children get to exit after SIGTERM before SIGKILL.
    pub shutdown_grace: Duration,
    /// The round opens this long after every agency has checked in (0: open from the start).
    pub opening_delay: Duration,
    /// Winners are released this long after the draw is logged (0: at once).
    pub winners_delay: Duration,
    /// The keys an environment variable set, overriding the file (logged at DEBUG).
    pub env_overrides: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 12345,
            ip: "server".into(),
            listen_backlog: None,
            logging_level: LevelFilter::Debug,
            agencies: 5,
            bets_file: PathBuf::from("./bets.csv"),
            sync: SyncMode::Durable,
            idle_timeout: Duration::from_secs(60),
            frame_timeout: Duration::from_secs(10),
            max_sessions: None,
            secrets_file: None,
            syslog: false,
            shutdown_grace: Duration::from_secs(5),
            opening_delay: Duration::ZERO,
            winners_delay: Duration::ZERO,
            env_overrides: Vec::new(),
        }
    }
}

/// The smallest backlog the server derives (the course's 128).
pub const MIN_BACKLOG: i32 = 128;

/// The smallest `MAX_SESSIONS` the server derives.
const MIN_MAX_SESSIONS: usize = 128;

impl ServerConfig {
    /// Most sessions of unidentified peers at once; one more evicts the oldest of them (if
    /// connected 5 s or more). Identified agencies do not count (one session each at most).
    /// As configured, or else `AGENCIES`, at least 128: when thousands of agencies connect at
    /// once, thousands are still unidentified 5 s later, and a fixed 128 evicted them (10,000
    /// agencies on two cores: about 2,600 cut off, and no draw).
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
            .unwrap_or_else(|| (self.agencies as usize).max(MIN_MAX_SESSIONS))
    }

    /// The `listen(2)` backlog: as configured, or else room for every agency and every anonymous
    /// session to connect at the same instant (`AGENCIES + MAX_SESSIONS`, at least
    /// [`MIN_BACKLOG`]). A full accept queue drops a SYN, which the client's kernel resends only
    /// after a second: thousands of agencies connecting at once stalled on 128. The kernel caps
    /// it at `net.core.somaxconn` (4096 by default).
    pub fn backlog(&self) -> i32 {
        self.listen_backlog.unwrap_or_else(|| {
            let wanted = (self.agencies as usize).saturating_add(self.max_sessions());
            i32::try_from(wanted).unwrap_or(i32::MAX).max(MIN_BACKLOG)
        })
    }

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
        let from_env = std::cell::RefCell::new(Vec::new());
        let get = |key: &str| -> Option<String> {
            if let Some(value) = env(key) {
                from_env.borrow_mut().push(key.to_string());
                return Some(value);
            }
            {
                let ini = ini.as_ref()?;
                let section = ini
                    .section(Some("DEFAULT"))
                    .or_else(|| ini.section(None::<String>))?;
                section.get(key).map(str::to_string)
            }
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
            "a positive number, or empty for one fitting AGENCIES",
            optional_positive,
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
            "FRAME_TIMEOUT",
            "a duration like 10s",
            timeout,
            &mut c.frame_timeout,
        )?;
        set(
            &get,
            "MAX_SESSIONS",
            "a positive number, or empty for one fitting AGENCIES",
            optional_positive,
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
        set(
            &get,
            "OPENING_DELAY",
            "a duration like 2s (0: open at once)",
            parse_duration,
            &mut c.opening_delay,
        )?;
        set(
            &get,
            "WINNERS_DELAY",
            "a duration like 200ms (0: at once)",
            parse_duration,
            &mut c.winners_delay,
        )?;
        c.env_overrides = from_env.into_inner();
        Ok(config)
    }
}
