//! The client process around its mode: the configuration, logging, the stop flag on SIGTERM
//! and SIGINT, and the exit code; shared by the `client` binary and the bench's
//! `client-one-pass`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::{process_env, ClientConfig, Mode};
use crate::logging;

/// Reads `config.yaml` (and `CLI_*` variables), sets up logging and the stop flag, and exits
/// with what `run` returns for the configured mode.
pub fn start(run: fn(&ClientConfig, &AtomicBool) -> i32) -> ExitCode {
    let config = match ClientConfig::load(Path::new("config.yaml"), &process_env) {
        Ok(config) => config,
        Err(err) => {
            logging::config_error(&err);
            return ExitCode::from(1);
        }
    };
    logging::init(config.log_level, false);
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(err) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            log::error!("action: config | result: fail | error: signal handler: {err}");
            return ExitCode::from(1);
        }
    }
    let mode = match config.mode {
        Mode::Echo => "echo",
        Mode::Bet => "bet",
        Mode::Agency => "agency",
        Mode::Check => "check",
    };
    log::info!(
        "action: config | result: success | client_id: {} | server_address: {} | loop_amount: {} | loop_period: {} | log_level: {} | mode: {mode} | batch_max_amount: {}",
        config.id,
        logging::field(&config.server_address),
        config.loop_amount,
        logging::field(&config.loop_period_text),
        logging::field(&config.log_level_text),
        config.batch_max_amount
    );
    logging::env_overrides(&config.env_overrides);
    let code = run(&config, &stop);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
