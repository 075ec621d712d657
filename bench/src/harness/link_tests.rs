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
fn the_rate_caps_both_ways_under_backpressure_every_byte_in_order_and_eof_both_ways() {
    let rate = 4_000_000;
    let (link, client, _server) = setup(2, rate, echo);
    // Well beyond what the link and the socket buffers hold: the sender must wait.
    let data = pattern(8 * link.shared.spec.capacity() + 12_345);
    let (mut sending, sent) = (client.try_clone().expect("clone"), data.clone());
    let started = Instant::now();
    let sender = thread::spawn(move || {
        sending.write_all(&sent).expect("send");
        sending.shutdown(Shutdown::Write).expect("half-close");
    });
    // The echo of everything, then the server's close after the client's: EOF both ways.
    let mut back = Vec::new();
    (&client).read_to_end(&mut back).expect("echo to EOF");
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
