//! The central: `server` serves; `server healthcheck` tells whether one is listening (exit 0/1).

use std::path::Path;
use std::process::ExitCode;

use tp0::config::{process_env, ServerConfig};
use tp0::logging;
use tp0::parent::{is_listening, raise_fd_limit, Capacity, ReceiveBuffers, Supervisor};

/// The system allocator, keeping one ipc-channel receive buffer for the next receive
/// (`parent::ReceiveBuffers` says why).
#[global_allocator]
static ALLOCATOR: ReceiveBuffers = ReceiveBuffers::new();

fn main() -> ExitCode {
    let config = match ServerConfig::load(Path::new("config.ini"), &process_env) {
        Ok(config) => config,
        Err(err) => {
            logging::config_error(&err);
            return ExitCode::from(1);
        }
    };
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return if is_listening(config.port) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    logging::init(config.logging_level, config.syslog);
    // Before any fork: the parent, every session and the coordinator keep the same size.
    ALLOCATOR.keep(ReceiveBuffers::ipc_receive_size());
    log::debug!(
        "action: config | result: success | port: {} | server_ip: {} | listen_backlog: {} | backlog_source: {} | logging_level: {} | agencies: {} | bets_file: {} | sync: {:?} | opening_delay: {:?} | winners_delay: {:?}",
        config.port,
        logging::field(&config.ip),
        config.backlog(),
        if config.listen_backlog.is_some() {
            "set"
        } else {
            "agencies_plus_max_sessions"
        },
        config.logging_level,
        config.agencies,
        logging::field(&config.bets_file.display().to_string()),
        config.sync,
        config.opening_delay,
        config.winners_delay
    );
    logging::env_overrides(&config.env_overrides);
    // Every waiting agency holds descriptors (its socket, and a reply channel in the
    // coordinator): thousands at once need more than the common soft limit of 1,024.
    match raise_fd_limit() {
        Ok(limit) => log::info!(
            "action: fd_limit | result: success | soft: {} | was: {} | hard: {}",
            limit.now,
            limit.was,
            limit.hard
        ),
        Err(err) => log::warn!("action: fd_limit | result: fail | error: {err}"),
    }
    // Said before the round, in one line: a limit met mid-round would fail agencies one by one.
    let capacity = Capacity::measure(config.agencies, config.backlog());
    if capacity.short().is_empty() {
        log::info!("action: check_limits | result: success | {capacity}");
    } else {
        log::warn!("action: check_limits | result: fail | {capacity}");
    }
    let supervisor = match Supervisor::new(config) {
        Ok(supervisor) => supervisor,
        Err(err) => {
            log::error!(
                "action: start_server | result: fail | error: {}",
                logging::field(&err.to_string())
            );
            return ExitCode::from(1);
        }
    };
    match supervisor.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log::error!(
                "action: server | result: fail | error: {}",
                logging::field(&err.to_string())
            );
            ExitCode::from(1)
        }
    }
}
