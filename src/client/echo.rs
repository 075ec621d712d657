//! Exercises 1–4: `loop.amount` echo round trips, `loop.period` apart.

use super::retry::{connect, sleep, with_retries};
use super::ClientError;
use crate::config::ClientConfig;
use crate::connection::{Connection, Fill};
use crate::logging::field;
use crate::protocol;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exercises 1–4: `loop.amount` echo round trips, `loop.period` apart.
pub(super) fn echo_loop(config: &ClientConfig, stop: &AtomicBool) -> Result<(), ClientError> {
    let id = config.id;
    for i in 1..=config.loop_amount {
        let message = format!("[CLIENT {id}] Message N°{i}");
        let reply = with_retries(config, stop, |progress| {
            let mut conn = Connection::new(connect(config, stop, progress)?);
            conn.send_line(format!("{message}\n").as_bytes())?;
            loop {
                if let Some(line) = conn.take_line(protocol::MAX_FRAME_LEN) {
                    return Ok(line);
                }
                if stop.load(Ordering::Relaxed) {
                    return Err(ClientError::Stopped);
                }
                if conn.fill()? == Fill::Eof {
                    return Ok(conn.take_rest());
                }
            }
        })?;
        let reply = String::from_utf8_lossy(&reply);
        let reply = reply.trim_end_matches(['\n', '\r']);
        if reply != message {
            return Err(ClientError::Fatal(format!(
                "echo mismatch: sent {message:?}, got {reply:?}"
            )));
        }
        log::info!(
            "action: receive_message | result: success | client_id: {id} | msg: {}",
            field(reply)
        );
        if i < config.loop_amount {
            sleep(config.loop_period, stop)?;
        }
    }
    log::info!("action: loop_finished | result: success | client_id: {id}");
    Ok(())
}
