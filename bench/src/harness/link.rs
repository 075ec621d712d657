//! A long-distance link, emulated in user space (no `netem` here): a [`Link`] listens on its own
//! port of 127.0.0.1 and forwards each connection to the server through its [`Spec`]; how, the
//! far section's "The link" paragraph says (`sections/far.md`).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// Bytes a direction may hold waiting for the serialization clock, beyond those in flight.
pub const BUFFER: usize = 64 * 1024;

/// What a link does to the bytes crossing it, each direction alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// One-way delay (half the round trip).
    pub delay: Duration,
    /// Bytes per second in each direction.
    pub rate: u64,
}

impl Spec {
    /// The round-trip time.
    pub fn rtt(&self) -> Duration {
        self.delay * 2
    }

    /// Most bytes one direction's queue holds: those in flight (rate × delay) and [`BUFFER`].
    fn capacity(&self) -> usize {
        (u128::from(self.rate) * self.delay.as_nanos() / 1_000_000_000) as usize + BUFFER
    }
}

/// A direction's chunks with their release time (an empty one: the half-close), the bytes
/// queued, and whether the writer has gone.
type State = (VecDeque<(Instant, Vec<u8>)>, usize, bool);

/// A direction's queue, signalled on every change.
#[derive(Default)]
struct Queue(Mutex<State>, Condvar);

/// A mutex's contents, even if a thread panicked holding it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Queue {
    /// Waits until `ready` holds for the state, then applies `then` to it and signals.
    fn with<T>(&self, ready: impl Fn(&State) -> bool, then: impl FnOnce(&mut State) -> T) -> T {
        let mut state = lock(&self.0);
        while !ready(&state) {
            state = self.1.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        let out = then(&mut state);
        self.1.notify_all();
        out
    }
}

/// What the link's threads share: the delay and rate, where connections go, the flag set when
/// the link is dropped, the serialization clocks (client → server, server → client), and every
/// socket, shut down when the link is dropped.
struct Shared {
    spec: Spec,
    upstream: SocketAddr,
    stop: AtomicBool,
    clocks: [Mutex<Instant>; 2],
    sockets: Mutex<Vec<TcpStream>>,
}

/// One emulated link in front of the server; dropping it closes every connection through it.
pub struct Link {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Link {
    /// Listens on a free port of 127.0.0.1 and forwards what it accepts to `upstream`.
    pub fn start(spec: Spec, upstream: SocketAddr) -> io::Result<Link> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let (addr, now) = (listener.local_addr()?, Instant::now());
        let clocks = [Mutex::new(now), Mutex::new(now)];
        let (stop, sockets) = (AtomicBool::new(false), Mutex::default());
        let shared = Arc::new(Shared {
            spec,
            upstream,
            stop,
            clocks,
            sockets,
        });
        let accepting = Arc::clone(&shared);
        thread::Builder::new()
            .name("link-accept".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if accepting.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    // A connection that cannot be forwarded is closed: the client sees EOF. Out of
                    // descriptors, say: wait instead of spinning.
                    match client {
                        Ok(client) => drop(forward(client, &accepting)),
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })?;
        Ok(Link { addr, shared })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // The acceptor is blocked in accept: a connection wakes it to see the flag.
        let _ = TcpStream::connect(self.addr);
        reset(&lock(&self.shared.sockets));
    }
}

/// Connects to the server and starts the four threads of one connection.
fn forward(client: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    let accepted = Instant::now();
    let server = TcpStream::connect(shared.upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    lock(&shared.sockets).extend([client.try_clone()?, server.try_clone()?]);
    // Client → server waits for the handshake's round trip; server → client does not.
    let directions = [
        (0, &client, &server, accepted + shared.spec.rtt()),
        (1, &server, &client, accepted),
    ];
    let both = Arc::new([client.try_clone()?, server.try_clone()?]);
    for (clock, from, to, not_before) in directions {
        let (queue, shared) = (Arc::new(Queue::default()), Arc::clone(shared));
        let (from, to) = (from.try_clone()?, to.try_clone()?);
        let (reading, both_r, both_w) = (Arc::clone(&queue), Arc::clone(&both), Arc::clone(&both));
        thread::spawn(move || read_side(from, &reading, &shared, (clock, not_before), &both_r));
        thread::spawn(move || write_side(to, &queue, &both_w));
    }
    Ok(())
}

/// One direction's reader: chunks from `from`, stamped with their release time (after the
/// direction's clock has serialized everything before them and then them, plus the delay).
fn read_side(
    mut from: TcpStream,
    queue: &Queue,
    shared: &Shared,
    (clock, not_before): (usize, Instant),
    both: &[TcpStream; 2],
) {
    let (mut buf, capacity) = (vec![0u8; 16 * 1024], shared.spec.capacity());
    while queue.with(|s| s.1 < capacity || s.2, |s| !s.2) {
        let read = match from.read(&mut buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Ok(n) => n,
            Err(_) => {
                reset(both);
                0
            }
        };
        let nanos = read as u128 * 1_000_000_000 / u128::from(shared.spec.rate.max(1));
        let mut clock = lock(&shared.clocks[clock]);
        *clock = (*clock).max(Instant::now().max(not_before)) + Duration::from_nanos(nanos as u64);
        let at = *clock + shared.spec.delay;
        drop(clock);
        queue.with(
            |_| true,
            |s| {
                s.0.push_back((at, buf[..read].to_vec()));
                s.1 += read;
            },
        );
        if read == 0 {
            return;
        }
    }
}

/// One direction's writer: each chunk to `to` at its release time; the half-close at its own.
fn write_side(mut to: TcpStream, queue: &Queue, both: &[TcpStream; 2]) {
    loop {
        let Some((at, bytes)) = queue.with(|s| !s.0.is_empty(), |s| s.0.pop_front()) else {
            return;
        };
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        if bytes.is_empty() {
            let _ = to.shutdown(Shutdown::Write);
            return queue.with(|_| true, |s| s.2 = true);
        }
        if to.write_all(&bytes).is_err() {
            reset(both);
            return queue.with(|_| true, |s| s.2 = true);
        }
        queue.with(|_| true, |s| s.1 -= bytes.len());
    }
}

/// Shuts connections down (their readers see EOF, their peers too).
fn reset(sockets: &[TcpStream]) {
    for socket in sockets {
        let _ = socket.shutdown(Shutdown::Both);
    }
}

/// The link emulator against real sockets: the delay, the rate, order and bytes under
/// backpressure, EOF both ways.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_take_the_delay_and_bulk_the_rate_every_byte_in_order_with_eof_both_ways() {
        let (listener, rate) = (
            TcpListener::bind(("127.0.0.1", 0)).expect("bind"),
            4_000_000,
        );
        let addr = listener.local_addr().expect("local address");
        // The server echoes everything back, then half-closes after the client's EOF.
        let _server = thread::spawn(move || {
            let (mut stream, mut buf) = (listener.accept().expect("accept").0, [0u8; 8192]);
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                stream.write_all(&buf[..n]).expect("echo write");
            }
            stream.shutdown(Shutdown::Write).expect("echo shutdown");
        });
        let spec = Spec {
            delay: Duration::from_millis(25),
            rate,
        };
        let link = Link::start(spec, addr).expect("link");
        let mut client = TcpStream::connect(link.addr()).expect("connect to the link");
        let timeout = Some(Duration::from_secs(10));
        client.set_read_timeout(timeout).expect("timeout");
        let mut byte = [0u8; 1];
        for round in 0..4u8 {
            let started = Instant::now();
            client.write_all(&[round]).expect("ping");
            client.read_exact(&mut byte).expect("pong");
            let took = started.elapsed();
            // The first one also pays for the handshake's round trip.
            let least = spec.rtt() * if round == 0 { 2 } else { 1 };
            assert!(byte[0] == round && took >= least && took < least + Duration::from_secs(2));
        }
        // Well beyond what the link and the socket buffers hold: the sender must wait.
        let data: Vec<u8> = (0..8 * spec.capacity() + 12_345)
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        let (mut sending, sent) = (client.try_clone().expect("clone"), data.clone());
        let started = Instant::now();
        let sender = thread::spawn(move || {
            sending.write_all(&sent).expect("send");
            sending.shutdown(Shutdown::Write).expect("half-close");
        });
        // The echo of everything, then the server's close after the client's: EOF both ways.
        let mut back = Vec::new();
        client.read_to_end(&mut back).expect("echo to EOF");
        let took = started.elapsed();
        sender.join().expect("sender");
        assert!(
            back == data,
            "{} bytes echoed, {} sent",
            back.len(),
            data.len()
        );
        // N bytes at the rate take N / rate at least, and not many times that.
        let least = Duration::from_secs_f64(data.len() as f64 / rate as f64);
        assert!(
            took >= least && took < least * 10 + Duration::from_secs(2),
            "{took:?}"
        );
    }
}
