//! The link emulator against real sockets: the delay, the rate, order and bytes under
//! backpressure, EOF both ways.

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
