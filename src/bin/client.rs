//! An agency: reads `config.yaml` (and `CLI_*` variables) and runs its mode.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tp0::config::{process_env, ClientConfig, Mode};
use tp0::logging;

fn main() -> ExitCode {
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
    let code = tp0::client::run(&config, &stop);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
