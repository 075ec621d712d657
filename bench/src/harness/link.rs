//! A long-distance link, emulated in user space (this machine's kernel has no `netem`): a
//! [`Link`] listens on its own port of 127.0.0.1 and, for each connection it accepts, opens one
//! to the server and forwards both directions through the link's [`Spec`].
//!
//! Each direction is a queue between two threads. The reader stamps every chunk it reads from
//! the sender with its release time: the chunk is serialized after everything sent before it
//! in that direction of the link (a clock shared by the link's connections advances by
//! bytes / rate), then propagates for the one-way delay; so bytes read at time t leave no
//! earlier than t + delay, and never faster than the rate. The writer sleeps until each chunk's
//! release time and writes it to the receiver, in order. The queue holds at most what the link
//! keeps in flight (rate × delay) plus [`BUFFER`]: a sender beyond that waits, as behind a
//! bottleneck's full buffer. The sender's half-close (EOF) is forwarded as a half-close after
//! its last byte, also delayed; a read or write error shuts both connections down.
//!
//! A real connection's handshake costs a round trip before the client may send; on loopback it
//! costs nothing, so the client's first bytes are held one round trip longer. No loss, no
//! jitter, no reordering; the link's buffering adds to the kernels' socket buffers on both ends.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Largest chunk one read takes from a sender.
const CHUNK: usize = 16 * 1024;
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

    /// Time to put `bytes` on the wire.
    fn serialization(&self, bytes: usize) -> Duration {
        let nanos = bytes as u128 * 1_000_000_000 / u128::from(self.rate.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Most bytes one direction's queue holds: those in flight (rate × delay) and [`BUFFER`].
    fn capacity(&self) -> usize {
        let in_flight = u128::from(self.rate) * self.delay.as_nanos() / 1_000_000_000;
        usize::try_from(in_flight).unwrap_or(usize::MAX / 2) + BUFFER
    }
}

/// What a direction's writer does next.
enum Item {
    /// These bytes, at this instant.
    Bytes(Instant, Vec<u8>),
    /// The sender half-closed: half-close the receiver at this instant.
    Eof(Instant),
    /// The sender's socket failed: shut both connections down.
    Reset,
}

/// A direction's queue, shared by its reader and writer.
#[derive(Default)]
struct Queue {
    /// Items in order, the bytes not yet written, and whether the writer has gone.
    state: Mutex<(VecDeque<Item>, usize, bool)>,
    /// Signalled on every change.
    changed: Condvar,
}

impl Queue {
    /// The state, even if a thread panicked holding it.
    fn lock(&self) -> MutexGuard<'_, (VecDeque<Item>, usize, bool)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends an item for the writer.
    fn push(&self, item: Item) {
        let mut state = self.lock();
        if let Item::Bytes(_, bytes) = &item {
            state.1 += bytes.len();
        }
        state.0.push_back(item);
        self.changed.notify_all();
    }

    /// Waits until fewer than `capacity` bytes are queued; false once the writer has gone.
    fn wait_room(&self, capacity: usize) -> bool {
        let mut state = self.lock();
        while state.1 >= capacity && !state.2 {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        !state.2
    }

    /// The next item, waiting for one.
    fn next(&self) -> Item {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.0.pop_front() {
                return item;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// `bytes` were written (or the writer has gone, `None`): room for the reader.
    fn written(&self, bytes: Option<usize>) {
        let mut state = self.lock();
        match bytes {
            Some(n) => state.1 = state.1.saturating_sub(n),
            None => state.2 = true,
        }
        self.changed.notify_all();
    }
}

/// What the link's threads share.
struct Shared {
    /// The delay and rate.
    spec: Spec,
    /// Where connections go.
    upstream: SocketAddr,
    /// Set when the link is dropped.
    stop: AtomicBool,
    /// Serialization clocks: client → server and server → client.
    clocks: [Mutex<Instant>; 2],
    /// A handle on every socket, to shut them down when the link is dropped.
    sockets: Mutex<Vec<TcpStream>>,
    /// The forwarding threads, joined when the link is dropped.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// One emulated link in front of the server; dropping it closes every connection through it.
pub struct Link {
    /// Where clients connect.
    addr: SocketAddr,
    /// State shared with the threads.
    shared: Arc<Shared>,
    /// The thread accepting connections.
    acceptor: Option<JoinHandle<()>>,
}

impl Link {
    /// Listens on a free port of 127.0.0.1 and forwards what it accepts to `upstream`.
    pub fn start(spec: Spec, upstream: SocketAddr) -> io::Result<Link> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let now = Instant::now();
        let shared = Arc::new(Shared {
            spec,
            upstream,
            stop: AtomicBool::new(false),
            clocks: [Mutex::new(now), Mutex::new(now)],
            sockets: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let acceptor = thread::Builder::new().name("link-accept".into()).spawn({
            let shared = Arc::clone(&shared);
            move || accept_loop(&listener, &shared)
        })?;
        Ok(Link {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
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
        let woke = TcpStream::connect(self.addr).is_ok();
        if let Some(acceptor) = self.acceptor.take().filter(|_| woke) {
            let _ = acceptor.join();
        }
        for socket in lock(&self.shared.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let threads: Vec<JoinHandle<()>> = lock(&self.shared.threads).drain(..).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// A mutex's contents, even if a thread panicked holding it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts connections until the link is dropped.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        match incoming {
            // A connection that cannot be forwarded is closed: the client sees EOF.
            Ok(client) => {
                let _ = forward(client, Instant::now(), shared);
            }
            // Out of descriptors, say: wait instead of spinning.
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Connects to the server and starts the four threads of one connection.
fn forward(client: TcpStream, accepted: Instant, shared: &Arc<Shared>) -> io::Result<()> {
    let server = TcpStream::connect(shared.upstream)?;
    for socket in [&client, &server] {
        socket.set_nodelay(true)?;
    }
    lock(&shared.sockets).extend([client.try_clone()?, server.try_clone()?]);
    // Client → server waits for the handshake's round trip; server → client does not.
    let directions = [
        (0, &client, &server, accepted + shared.spec.rtt()),
        (1, &server, &client, accepted),
    ];
    for (clock, from, to, not_before) in directions {
        let queue = Arc::new(Queue::default());
        let reader = {
            let (from, queue, shared) = (from.try_clone()?, Arc::clone(&queue), Arc::clone(shared));
            move || read_side(from, &queue, &shared, clock, not_before)
        };
        let writer = {
            let (to, sockets) = (to.try_clone()?, [client.try_clone()?, server.try_clone()?]);
            move || write_side(to, &queue, &sockets)
        };
        for (name, body) in [
            ("link-read", Box::new(reader) as Box<dyn FnOnce() + Send>),
            ("link-write", Box::new(writer)),
        ] {
            match thread::Builder::new().name(name.into()).spawn(body) {
                Ok(handle) => lock(&shared.threads).push(handle),
                Err(err) => {
                    reset(&[&client, &server]);
                    return Err(err);
                }
            }
        }
    }
    Ok(())
}

/// When bytes read at `earliest` leave the link: after the direction's clock has serialized
/// everything before them and then them, plus the delay.
fn release(shared: &Shared, clock: usize, earliest: Instant, bytes: usize) -> Instant {
    let mut clock = lock(&shared.clocks[clock]);
    let start = (*clock).max(earliest);
    *clock = start + shared.spec.serialization(bytes);
    *clock + shared.spec.delay
}

/// One direction's reader: chunks from `from`, stamped, into the queue.
fn read_side(
    mut from: TcpStream,
    queue: &Queue,
    shared: &Shared,
    clock: usize,
    not_before: Instant,
) {
    let mut buf = vec![0u8; CHUNK];
    while queue.wait_room(shared.spec.capacity()) {
        match from.read(&mut buf) {
            Ok(0) => {
                let at = release(shared, clock, Instant::now().max(not_before), 0);
                return queue.push(Item::Eof(at));
            }
            Ok(n) => {
                let at = release(shared, clock, Instant::now().max(not_before), n);
                queue.push(Item::Bytes(at, buf[..n].to_vec()));
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return queue.push(Item::Reset),
        }
    }
}

/// One direction's writer: each chunk to `to` at its release time.
fn write_side(mut to: TcpStream, queue: &Queue, both: &[TcpStream; 2]) {
    loop {
        match queue.next() {
            Item::Bytes(at, bytes) => {
                sleep_until(at);
                if to.write_all(&bytes).is_err() {
                    break reset(&[&both[0], &both[1]]);
                }
                queue.written(Some(bytes.len()));
            }
            Item::Eof(at) => {
                sleep_until(at);
                let _ = to.shutdown(Shutdown::Write);
                break;
            }
            Item::Reset => break reset(&[&both[0], &both[1]]),
        }
    }
    queue.written(None);
}

/// Shuts both connections down (their readers see EOF, their peers too).
fn reset(sockets: &[&TcpStream]) {
    for socket in sockets {
        let _ = socket.shutdown(Shutdown::Both);
    }
}

/// Sleeps until `at` (at once if it has passed).
fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        thread::sleep(at - now);
    }
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
