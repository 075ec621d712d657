//! The listening socket, and the few bytes the parent itself may send: a refusal it never waits
//! on. Also the container healthcheck, which looks for the listener without connecting.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{
    self, setsockopt, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn6,
};
use nix::sys::time::TimeVal;

use super::{setup, ServerError};
use crate::connection::{self, FrameWriter};
use crate::protocol::{ErrorCode, ServerMessage};

/// Binds `[::]:port` (dual-stack, so IPv4 clients too) or, without IPv6, `0.0.0.0:port`, with
/// SO_REUSEADDR and the configured backlog, non-blocking for the accept loop.
pub(super) fn bind(port: u16, backlog: i32) -> Result<TcpListener, ServerError> {
    let v6 = SockaddrIn6::from(std::net::SocketAddrV6::new(
        std::net::Ipv6Addr::UNSPECIFIED,
        port,
        0,
        0,
    ));
    let v4 = socket::SockaddrIn::from(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::UNSPECIFIED,
        port,
    ));
    let fd = bind_to(AddressFamily::Inet6, &v6, backlog)
        .or_else(|_| bind_to(AddressFamily::Inet, &v4, backlog))
        .map_err(setup("bind"))?;
    let listener = TcpListener::from(fd);
    listener.set_nonblocking(true).map_err(setup("bind"))?;
    set_session_options(&listener).map_err(setup("bind"))?;
    Ok(listener)
}

/// Sets on a listening socket what every session's socket needs: no Nagle delay, the read and
/// write ticks of [`connection::SESSION_TICK`], and dead-peer detection ([`connection::detect_dead_peer`]). Linux copies
/// a listener's socket options to each socket it accepts, so the eight `setsockopt` calls are
/// made once instead of in every forked session (a tenth of a session's system calls).
///
/// # Errors
/// A `setsockopt` failed.
pub(super) fn set_session_options(listener: &impl AsFd) -> io::Result<()> {
    let tick = TimeVal::new(
        connection::SESSION_TICK
            .as_secs()
            .try_into()
            .unwrap_or(i64::MAX),
        connection::SESSION_TICK.subsec_micros().into(),
    );
    setsockopt(listener, sockopt::TcpNoDelay, &true)?;
    setsockopt(listener, sockopt::ReceiveTimeout, &tick)?;
    setsockopt(listener, sockopt::SendTimeout, &tick)?;
    connection::detect_dead_peer(listener)
}

fn bind_to(
    family: AddressFamily,
    addr: &dyn socket::SockaddrLike,
    backlog: i32,
) -> nix::Result<OwnedFd> {
    let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if family == AddressFamily::Inet6 {
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &false)?;
    }
    socket::bind(fd.as_raw_fd(), addr)?;
    socket::listen(&fd, Backlog::new(backlog).unwrap_or(Backlog::MAXCONN))?;
    Ok(fd)
}

pub(super) fn refuse_busy(stream: TcpStream, peer: SocketAddr, limit: usize) {
    log::warn!(
        "action: start_session | result: fail | ip: {} | error: {limit} sessions already running",
        peer.ip().to_canonical()
    );
    refuse(
        stream,
        ErrorCode::ServerBusy,
        "too many connections, retry later",
    );
}

/// Best-effort error frame from the parent; it must never block, so the socket is non-blocking.
pub(super) fn refuse(stream: TcpStream, code: ErrorCode, text: &str) {
    FrameWriter::send_and_forget(stream, &ServerMessage::Error { code, text });
}

/// Whether a socket in this network namespace listens on `port` (from `/proc/net/tcp{,6}`).
///
/// The container healthcheck uses this instead of connecting, so probing every second forks no
/// session and writes nothing to the log.
pub fn is_listening(port: u16) -> bool {
    const LISTEN: &str = "0A";
    ["/proc/net/tcp6", "/proc/net/tcp"].iter().any(|table| {
        let Ok(text) = std::fs::read_to_string(table) else {
            return false;
        };
        text.lines().skip(1).any(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1).unwrap_or("");
            let state = fields.nth(1).unwrap_or("");
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            state == LISTEN && local_port == Some(port)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;
    use std::time::Duration;

    #[test]
    fn accepted_sockets_inherit_the_session_options_of_the_listener() {
        let listener = bind(0, 16).unwrap();
        let port = listener.local_addr().unwrap().port();
        let _client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let accepted = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(err) => panic!("accept: {err}"),
            }
        };
        // What `session::run` relies on without setting it again.
        assert!(accepted.nodelay().unwrap());
        assert_eq!(
            accepted.read_timeout().unwrap(),
            Some(connection::SESSION_TICK)
        );
        assert_eq!(
            accepted.write_timeout().unwrap(),
            Some(connection::SESSION_TICK)
        );
        assert!(socket::getsockopt(&accepted, sockopt::KeepAlive).unwrap());
        let user_timeout = socket::getsockopt(&accepted, sockopt::TcpUserTimeout).unwrap();
        assert_eq!(
            u128::from(user_timeout),
            connection::DEAD_PEER_TIMEOUT.as_millis()
        );
    }

    #[test]
    fn a_bound_listener_is_seen_and_a_closed_port_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(is_listening(port));
        drop(listener);
        assert!(!is_listening(port));
    }
}
