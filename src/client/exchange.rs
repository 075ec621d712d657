//! What every mode that names its agency does on a connection: `HELLO` and its `WELCOME`, and
//! waiting for the next frame.

use super::{refused, ClientError};
use crate::config::ClientConfig;
use crate::connection::{Connection, Fill};
use crate::protocol::{ClientMessage, ServerMessage};
use std::sync::atomic::{AtomicBool, Ordering};

pub(super) fn read_secret(config: &ClientConfig) -> Result<Vec<u8>, ClientError> {
    match &config.secret_file {
        None => Ok(Vec::new()),
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim().as_bytes().to_vec())
            .map_err(|err| ClientError::Fatal(format!("secret file {}: {err}", path.display()))),
    }
}

/// Waits for the next whole frame and hands it to `take`; no idle limit (waiting for the draw is
/// not idleness), only SIGTERM.
pub(super) fn next_frame<T>(
    conn: &mut Connection,
    stop: &AtomicBool,
    take: impl FnOnce(ServerMessage<'_>) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    loop {
        // Decode first so a frame already buffered is not delayed by a read.
        let decoded = conn
            .next_frame::<ServerMessage<'_>>()
            .map_err(|err| ClientError::Retry(format!("bad frame from server: {err}")))?;
        if let Some(message) = decoded {
            return take(message);
        }
        if stop.load(Ordering::Relaxed) {
            return Err(ClientError::Stopped);
        }
        if conn.fill()? == Fill::Eof {
            return Err(ClientError::Retry("server closed the connection".into()));
        }
    }
}

/// `HELLO` and its `WELCOME`: where this agency's upload stands.
pub(super) fn greet(
    conn: &mut Connection,
    config: &ClientConfig,
    stop: &AtomicBool,
) -> Result<(u64, bool), ClientError> {
    let secret = read_secret(config)?;
    conn.send(&ClientMessage::Hello {
        agency: config.id,
        secret: &secret,
    })?;
    next_frame(conn, stop, |message| match message {
        ServerMessage::Welcome { position, ended } => Ok((position, ended)),
        ServerMessage::Error { code, text } => Err(refused(code, text)),
        other => Err(ClientError::Retry(format!(
            "unexpected reply to HELLO: {other:?}"
        ))),
    })
}
