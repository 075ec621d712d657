use std::path::{Path, PathBuf};
use std::time::Duration;

use log::LevelFilter;

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
    let config = ServerConfig::load(
        &path,
        &env_of(&[("AGENCIES", "7"), ("WINNERS_DELAY", "200ms")]),
    )
    .unwrap();
    assert_eq!(config.port, 4000);
    assert_eq!(config.agencies, 7);
    assert_eq!(config.logging_level, LevelFilter::Info);
    assert_eq!(config.winners_delay, Duration::from_millis(200));
    assert_eq!(config.opening_delay, Duration::ZERO, "off unless set");
    assert_eq!(config.env_overrides, ["AGENCIES", "WINNERS_DELAY"]);
    let missing = ServerConfig::load(Path::new("/nonexistent/config.ini"), &env_of(&[])).unwrap();
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
        ("FRAME_TIMEOUT", "0s"),
        ("OPENING_DELAY", "soon"),
        ("WINNERS_DELAY", "-1s"),
    ] {
        let pairs: &'static [(&str, &str)] = Box::leak(Box::new([(key, value)]));
        let err = ServerConfig::load(none, &env_of(pairs)).unwrap_err();
        assert_eq!(err.key, key);
    }
}

#[test]
fn files_with_only_the_course_keys_load_with_defaults_for_the_rest() {
    let server = temp(
        "course.ini",
        "[DEFAULT]\nSERVER_PORT = 12345\nSERVER_IP = server\nSERVER_LISTEN_BACKLOG = 5\nLOGGING_LEVEL = DEBUG\n",
    );
    let config = ServerConfig::load(&server, &env_of(&[])).unwrap();
    assert_eq!(config.listen_backlog, Some(5));
    assert_eq!(config.backlog(), 5);
    assert_eq!(config.bets_file, ServerConfig::default().bets_file);
    assert!(config.env_overrides.is_empty());
    let client = temp(
        "course.yaml",
        "server:\n  address: \"server:12345\"\nloop:\n  amount: 500\n  period: \"150ms\"\nlog:\n  level: \"DEBUG\"\nbatch:\n  maxAmount: 10\n",
    );
    let config = ClientConfig::load(&client, &env_of(&[("CLI_ID", "2")])).unwrap();
    assert_eq!(config.loop_amount, 500);
    assert_eq!(config.loop_period, Duration::from_millis(150));
    assert_eq!(config.batch_max_amount, 10);
    assert_eq!(config.mode, Mode::Agency);
    assert_eq!(config.data_file, ClientConfig::default().data_file);
    assert_eq!(config.env_overrides, ["id"]);
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

#[test]
fn the_backlog_fits_the_agencies_unless_set() {
    let env = |key: &str| match key {
        "AGENCIES" => Some("3000".to_string()),
        "SERVER_LISTEN_BACKLOG" => Some(" ".to_string()),
        _ => None,
    };
    let config = ServerConfig::load(Path::new("/nonexistent/config.ini"), &env).unwrap();
    assert_eq!(config.listen_backlog, None);
    // AGENCIES + MAX_SESSIONS, which itself defaults to AGENCIES.
    assert_eq!(config.backlog(), 3000 + 3000);
    assert_eq!(ServerConfig::default().backlog(), 5 + 128);
    assert!(ServerConfig::default().backlog() >= MIN_BACKLOG);
}

#[test]
fn max_sessions_fits_the_agencies_unless_set() {
    let load = |agencies: &'static str, max: Option<&'static str>| {
        let env = move |key: &str| match key {
            "AGENCIES" => Some(agencies.to_string()),
            "MAX_SESSIONS" => max.map(str::to_string),
            _ => None,
        };
        ServerConfig::load(Path::new("/nonexistent/config.ini"), &env).unwrap()
    };
    assert_eq!(load("5", None).max_sessions(), 128, "at least 128");
    assert_eq!(load("10000", None).max_sessions(), 10_000);
    assert_eq!(load("10000", Some("")).max_sessions(), 10_000);
    assert_eq!(load("10000", Some("4")).max_sessions(), 4);
    assert!(
        ServerConfig::load(Path::new("/nonexistent/config.ini"), &|key: &str| {
            (key == "MAX_SESSIONS").then(|| "0".to_string())
        })
        .is_err()
    );
}
