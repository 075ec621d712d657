//! The link emulator against real sockets: the delay, the rate, order and bytes, EOF both ways,
//! and what an unreachable server or a dropped link does to the client.

use super::*;

/// Longest any test waits on a socket.
const PATIENCE: Duration = Duration::from_secs(10);

/// A server for one connection: `serve` runs on it, its result comes back from the handle.
fn server<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let addr = listener.local_addr().expect("local address");
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        serve(stream)
    });
    (addr, handle)
}

/// Echoes everything back, then half-closes after the client's EOF.
fn echo(mut stream: TcpStream) {
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => stream.write_all(&buf[..n]).expect("echo write"),
        }
    }
    stream.shutdown(Shutdown::Write).expect("echo shutdown");
}

/// Connects to the link, with a read timeout.
fn dial(link: &Link) -> TcpStream {
    let stream = TcpStream::connect(link.addr()).expect("connect to the link");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream
}

/// A recognisable pattern of `len` bytes.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn a_round_trip_takes_the_delay_both_ways() {
    let (addr, _server) = server(echo);
    let spec = Spec {
        delay: Duration::from_millis(25),
        rate: 100_000_000,
    };
    let link = Link::start(spec, addr).expect("link");
    let mut client = dial(&link);
    let mut byte = [0u8; 1];
    for round in 0..6u8 {
        let started = Instant::now();
        client.write_all(&[round]).expect("ping");
        client.read_exact(&mut byte).expect("pong");
        let took = started.elapsed();
        assert_eq!(byte[0], round);
        // The first one also pays for the handshake's round trip.
        let least = if round == 0 {
            2 * spec.rtt()
        } else {
            spec.rtt()
        };
        assert!(took >= least, "round {round}: {took:?} < {least:?}");
        assert!(
            took < least + Duration::from_secs(2),
            "round {round}: {took:?}"
        );
    }
}

#[test]
fn the_rate_caps_a_transfer_and_every_byte_arrives_in_order() {
    let (addr, server) = server(|mut stream: TcpStream| {
        let mut got = Vec::new();
        stream.read_to_end(&mut got).expect("read to EOF");
        let done = Instant::now();
        stream.write_all(b"bye").expect("reply");
        (got, done)
    });
    let spec = Spec {
        delay: Duration::from_millis(5),
        rate: 2_000_000,
    };
    let link = Link::start(spec, addr).expect("link");
    let mut client = dial(&link);
    let data = pattern(1_000_000);
    let started = Instant::now();
    client.write_all(&data).expect("send");
    client.shutdown(Shutdown::Write).expect("half-close");
    let (got, done) = server.join().expect("server");
    let took = done - started;
    assert!(
        got == data,
        "{} bytes arrived, not the {} sent",
        got.len(),
        data.len()
    );
    // 1,000,000 bytes at 2,000,000 bytes/s: half a second at least, and not many times that.
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The server's reply and its close (the socket dropped) come back.
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).expect("reply and EOF");
    assert_eq!(reply, b"bye");
}

#[test]
fn both_directions_at_once_under_backpressure_and_eof_both_ways() {
    let (addr, _server) = server(echo);
    let spec = Spec {
        delay: Duration::from_millis(2),
        rate: 50_000_000,
    };
    let link = Link::start(spec, addr).expect("link");
    let client = dial(&link);
    // Well beyond what the link and the socket buffers hold: the sender must wait.
    let data = pattern(8 * spec.capacity() + 12_345);
    let sender = {
        let (mut client, data) = (client.try_clone().expect("clone"), data.clone());
        thread::spawn(move || {
            client.write_all(&data).expect("send");
            client.shutdown(Shutdown::Write).expect("half-close");
        })
    };
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

#[test]
fn an_unreachable_server_closes_the_client() {
    let gone = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let addr = gone.local_addr().expect("address");
    drop(gone);
    let spec = Spec {
        delay: Duration::from_millis(1),
        rate: 1_000_000,
    };
    let link = Link::start(spec, addr).expect("link");
    let mut client = dial(&link);
    let started = Instant::now();
    let mut buf = [0u8; 16];
    match client.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{n} bytes from nowhere"),
        Err(err) => assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn dropping_the_link_closes_its_connections() {
    let (addr, server) = server(|mut stream: TcpStream| {
        let mut got = Vec::new();
        // Ends when the link shuts the connection down.
        let _ = stream.read_to_end(&mut got);
        got
    });
    let spec = Spec {
        delay: Duration::from_millis(1),
        rate: 1_000_000,
    };
    let link = Link::start(spec, addr).expect("link");
    let mut client = dial(&link);
    client.write_all(b"hello").expect("send");
    thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    drop(link);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        started.elapsed()
    );
    let mut buf = [0u8; 16];
    match client.read(&mut buf) {
        Ok(0) => {}
        other => panic!("the client saw {other:?}, not EOF"),
    }
    assert_eq!(server.join().expect("server"), b"hello");
}
