//! Exercise 5: one bet from the environment, stored exactly once even across restarts.

use super::exchange::{greet, next_frame};
use super::retry::{connect, LastProgress};
use super::{refused, ClientError};
use crate::config::ClientConfig;
use crate::connection::Connection;
use crate::domain::Bet;
use crate::protocol::{RawBet, ServerMessage};
use std::sync::atomic::AtomicBool;

/// Exercise 5: one bet from the environment, stored exactly once even across restarts.
pub(super) fn send_one_bet(
    config: &ClientConfig,
    stop: &AtomicBool,
    progress: &LastProgress,
) -> Result<(), ClientError> {
    let var = |name: &str| {
        std::env::var(name).map_err(|_| ClientError::Fatal(format!("{name} is not set")))
    };
    let fields = [
        var("NOMBRE")?,
        var("APELLIDO")?,
        var("DOCUMENTO")?,
        var("NACIMIENTO")?,
        var("NUMERO")?,
    ];
    let raw = RawBet {
        first_name: fields[0].as_bytes(),
        last_name: fields[1].as_bytes(),
        document: fields[2].as_bytes(),
        birthdate: fields[3].as_bytes(),
        number: fields[4].as_bytes(),
    };
    let bet =
        Bet::validate(&raw).map_err(|err| ClientError::Fatal(format!("invalid bet: {err}")))?;
    let mut conn = Connection::new(connect(config, stop, progress)?);
    let (position, _) = greet(&mut conn, config, stop)?;
    progress.mark();
    // The agency's first bet is this one: if it is stored already, a previous run sent it.
    if position == 0 {
        conn.send_bet(0, &bet.raw())?;
        next_frame(&mut conn, stop, |message| match message {
            ServerMessage::Ack { .. } => Ok(()),
            ServerMessage::Error { code, text } => Err(refused(code, text)),
            other => Err(ClientError::Retry(format!(
                "unexpected reply to BET: {other:?}"
            ))),
        })?;
    }
    log::info!(
        "action: apuesta_enviada | result: success | dni: {} | numero: {}",
        bet.document,
        bet.number
    );
    Ok(())
}
