//! The link emulator against real sockets: the delay, the rate, order and bytes under
//! backpressure, EOF both ways.

use super::*;
use std::thread::JoinHandle;

/// A link of `delay_ms` and `rate` in front of a server for one connection running `serve`
/// (its result from the handle), and a client connected to the link.
fn setup<T: Send + 'static>(
    delay_ms: u64,
    rate: u64,
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (Link, TcpStream, JoinHandle<T>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let addr = listener.local_addr().expect("local address");
    let server = thread::spawn(move || serve(listener.accept().expect("accept").0));
    let delay = Duration::from_millis(delay_ms);
    let link = Link::start(Spec { delay, rate }, addr).expect("link");
    let client = TcpStream::connect(link.addr()).expect("connect to the link");
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    (link, client, server)
}

/// Echoes everything back, then half-closes after the client's EOF.
fn echo(mut stream: TcpStream) {
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        stream.write_all(&buf[..n]).expect("echo write");
    }
    stream.shutdown(Shutdown::Write).expect("echo shutdown");
}

/// A recognisable pattern of `len` bytes.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn a_round_trip_takes_the_delay_both_ways() {
    let (link, mut client, _server) = setup(25, 100_000_000, echo);
    let mut byte = [0u8; 1];
    for round in 0..6u8 {
        let started = Instant::now();
        client.write_all(&[round]).expect("ping");
        client.read_exact(&mut byte).expect("pong");
        let took = started.elapsed();
        // The first one also pays for the handshake's round trip.
        let least = link.shared.spec.rtt() * if round == 0 { 2 } else { 1 };
        assert!(byte[0] == round && took >= least && took < least + Duration::from_secs(2));
    }
}

#[test]
fn the_rate_caps_a_transfer_and_every_byte_arrives_in_order() {
    let (_link, mut client, server) = setup(5, 2_000_000, |mut stream: TcpStream| {
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("read to EOF");
        stream.write_all(b"bye").expect("reply");
        (got, Instant::now())
    });
    let (data, started) = (pattern(1_000_000), Instant::now());
    client.write_all(&data).expect("send");
    client.shutdown(Shutdown::Write).expect("half-close");
    let (got, done) = server.join().expect("server");
    assert!(
        got == data,
        "{} bytes arrived, not {}",
        got.len(),
        data.len()
    );
    // 1,000,000 bytes at 2,000,000 bytes/s: half a second at least, and not many times that.
    let took = done - started;
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // The server's reply and its close come back.
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).expect("reply and EOF");
    assert_eq!(reply, b"bye");
}

#[test]
fn both_directions_at_once_under_backpressure_and_eof_both_ways() {
    let (link, client, _server) = setup(2, 50_000_000, echo);
    // Well beyond what the link and the socket buffers hold: the sender must wait.
    let data = pattern(8 * link.shared.spec.capacity() + 12_345);
    let (mut sending, sent) = (client.try_clone().expect("clone"), data.clone());
    let sender = thread::spawn(move || {
        sending.write_all(&sent).expect("send");
        sending.shutdown(Shutdown::Write).expect("half-close");
    });
    let mut back = Vec::new();
    (&client).read_to_end(&mut back).expect("echo to EOF");
    sender.join().expect("sender");
    assert!(
        back == data,
        "{} bytes echoed, {} sent",
        back.len(),
        data.len()
    );
}
