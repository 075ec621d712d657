//! The load generator: many agencies over the real protocol from one mio event loop, each
//! checking its RECEIPT and winners; the last agency's END waits for the caller's look at the
//! waiting sessions (a pause left out of the wall time).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tp0::domain::ReceiptBuilder;
use tp0::protocol::{BatchBuilder, ClientMessage, Decoded, Frame, RawBet, ServerMessage};

use crate::harness::data::WINNING_NUMBER;
use crate::harness::{fail, Ctx, RunError};

/// Bets per batch at most, the client's default `batch.maxAmount` (the builder also keeps each
/// frame within 8 kB), and batches in flight, its default `batch.window`.
const BATCH: (u16, usize) = (120, 64);
/// Agencies not yet welcomed, at most: a real fleet does not dial in one millisecond, and a
/// burst past the accept queue would only measure the kernel's 1 s SYN retransmit.
const CONNECTING: usize = 1024;
/// Documents are `agency × DOC_SPAN + i`: unique, all of one length per agency, ≤ 10 digits.
const DOC_SPAN: u64 = 100_000;

/// What [`play`] hands back: the wall time and the failures.
type Played = (Duration, Vec<String>);

/// What to play.
pub struct Plan<'a> {
    /// The server.
    pub addr: SocketAddr,
    /// Agencies `1..=agencies`, one connection each.
    pub agencies: u32,
    /// Bets per agency (below 100,000).
    pub bets: u64,
    /// Agency `n`'s secret is `secrets[n - 1]`; `None`: empty ones (the server's are off).
    pub secrets: Option<&'a [Vec<u8>]>,
    /// The whole round must end within this.
    pub timeout: Duration,
}

/// Whether bet `i` of `agency` is a winner: about one in 23.
fn wins(agency: u32, i: u64) -> bool {
    (u64::from(agency) + i).is_multiple_of(23)
}

/// The five fields of bet `i` of `agency`, as text.
fn bet_fields(agency: u32, i: u64) -> [String; 5] {
    let number = match (u64::from(agency) * 31 + i * 7) % 10_000 {
        _ if wins(agency, i) => u64::from(WINNING_NUMBER),
        n if n == u64::from(WINNING_NUMBER) => n + 1,
        n => n,
    };
    let birth = format!("19{}-{:02}-{:02}", 50 + i % 50, 1 + i % 12, 1 + i % 28);
    let document = (u64::from(agency) * DOC_SPAN + i).to_string();
    let (first, last) = (format!("Agencia {agency}"), format!("Apuesta {i}"));
    [first, last, document, birth, number.to_string()]
}

/// An error as text.
fn text(err: impl std::fmt::Display) -> String {
    err.to_string()
}

/// Where an agency stands: WELCOME, ACKs, RECEIPT, WINNER_LIST awaited, or done (or failed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    #[default]
    Hello,
    Upload,
    Receipt,
    Winners,
    Done,
}

/// One played agency: its connection, bets batched, positions to be acknowledged, END queued or
/// held back, bytes queued (`out_at` of them written) and read, its receipt, its winners.
#[derive(Default)]
struct Agency {
    id: u32,
    stream: Option<TcpStream>,
    phase: Phase,
    sent: u64,
    acks: VecDeque<u64>,
    ended: bool,
    held: bool,
    out: Vec<u8>,
    out_at: usize,
    input: Vec<u8>,
    receipt: ReceiptBuilder,
    got: Vec<String>,
}

/// Plays `plan`; `on_wait` is called once every agency but the last waits for the draw (and the
/// last has all its bets stored). The wall time (first connect → last winners list, less the
/// caller's look) and why it failed (none: every agency got its own winners and a matching
/// receipt); `Err` only on interruption or when the loop cannot be set up.
pub fn play(ctx: &Ctx, plan: &Plan<'_>, on_wait: &mut dyn FnMut()) -> Result<Played, RunError> {
    let n = plan.agencies as usize;
    if plan.bets >= DOC_SPAN || n == 0 {
        return Err(RunError::Fail(format!("load: {n} × {} bets", plan.bets)));
    }
    let mut poll = Poll::new().map_err(fail("create the load generator's poll"))?;
    let mut events = Events::with_capacity(1024);
    let (mut agencies, mut failures) = (Vec::<Agency>::with_capacity(n), Vec::new());
    let (start, mut paused, mut released) = (Instant::now(), Duration::ZERO, false);
    loop {
        let mut connecting = agencies.iter().filter(|a| a.phase == Phase::Hello).count();
        while agencies.len() < n && connecting < CONNECTING {
            let id = u32::try_from(agencies.len() + 1).unwrap_or(u32::MAX);
            let mut agency = Agency::default();
            (agency.id, agency.held) = (id, id == plan.agencies);
            let secret = plan.secrets.and_then(|s| s.get(agencies.len()));
            if let Err(err) = agency.open(plan.addr, &poll, secret.map_or(&[], |s| s)) {
                failures.push(format!("agency {id} (Hello): connect: {err}"));
                agency.phase = Phase::Done;
            }
            agencies.push(agency);
            connecting += 1;
        }
        // Once the held agency's END is all the draw waits for, the caller looks.
        let uploading = agencies.iter().filter(|a| a.phase <= Phase::Upload).count();
        let ready = agencies.len() == n
            && agencies.last().is_some_and(|a| {
                a.phase == Phase::Upload && a.sent == plan.bets && a.acks.is_empty()
            });
        if !released && ready && uploading == 1 {
            released = true;
            let began = Instant::now();
            on_wait();
            paused = began.elapsed();
            agencies[n - 1].held = false;
            drive(&mut agencies[n - 1], plan, &mut failures);
        }
        let done = agencies.iter().filter(|a| a.phase == Phase::Done).count();
        if done == n {
            break;
        }
        ctx.check()?;
        let left = plan.timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            let secs = plan.timeout.as_secs();
            failures.push(format!(
                "timeout after {secs} s: {done} of {n} agencies done"
            ));
            break;
        }
        match poll.poll(&mut events, Some(left.min(Duration::from_millis(100)))) {
            Err(err) if err.kind() != ErrorKind::Interrupted => {
                return Err(fail("load: poll")(err))
            }
            _ => {}
        }
        for event in &events {
            if let Some(agency) = agencies.get_mut(event.token().0) {
                drive(agency, plan, &mut failures);
            }
        }
    }
    let wall = start.elapsed().saturating_sub(paused);
    Ok((wall, failures))
}

/// Makes every step `agency` can make now; a failure closes it with its reason.
fn drive(agency: &mut Agency, plan: &Plan<'_>, failures: &mut Vec<String>) {
    if agency.phase == Phase::Done {
        return;
    }
    if let Err(reason) = agency.step(plan) {
        let (id, phase) = (agency.id, agency.phase);
        failures.push(format!("agency {id} ({phase:?}): {reason}"));
        agency.phase = Phase::Done;
    }
    if agency.phase == Phase::Done {
        agency.stream = None;
    }
}

impl Agency {
    /// Queues HELLO (writes to a socket still connecting would block) and connects.
    fn open(&mut self, addr: SocketAddr, poll: &Poll, secret: &[u8]) -> Result<(), String> {
        let hello = ClientMessage::Hello {
            agency: self.id,
            secret,
        };
        hello.encode(&mut self.out).map_err(text)?;
        let mut stream = TcpStream::connect(addr).map_err(text)?;
        let _ = stream.set_nodelay(true);
        let (token, both) = (
            Token(self.id as usize - 1),
            Interest::READABLE | Interest::WRITABLE,
        );
        let registered = poll.registry().register(&mut stream, token, both);
        registered.map_err(text)?;
        self.stream = Some(stream);
        Ok(())
    }

    /// Writes and reads until the socket would block, answering each frame; why it failed.
    fn step(&mut self, plan: &Plan<'_>) -> Result<(), String> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.phase == Phase::Upload {
                self.fill(plan)?;
            }
            let stream = self.stream.as_mut().ok_or("no connection")?;
            while self.out_at < self.out.len() {
                match stream.write(&self.out[self.out_at..]) {
                    Ok(n) => self.out_at += n,
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == ErrorKind::Interrupted => {}
                    Err(err) => return Err(format!("write: {err}")),
                }
            }
            if self.out_at == self.out.len() {
                self.out.clear();
                self.out_at = 0;
            }
            match stream.read(&mut chunk) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) => return Err(format!("read: {err}")),
            }
            // A message borrows the bytes it came in: decode from them taken aside.
            let input = std::mem::take(&mut self.input);
            let mut at = 0;
            while let Decoded::Frame(message, used) = ServerMessage::decode(&input[at..])
                .map_err(|err| format!("bad frame from the server: {err}"))?
            {
                at += used;
                self.phase = self.answer(message, plan)?;
            }
            self.input = input;
            self.input.drain(..at);
            if self.phase == Phase::Done {
                return Ok(());
            }
        }
    }

    /// Queues batches while the window has room, then END unless it is held.
    fn fill(&mut self, plan: &Plan<'_>) -> Result<(), String> {
        while self.acks.len() < BATCH.1 && self.sent < plan.bets {
            let mut batch = BatchBuilder::new(BATCH.0);
            batch.reset(self.sent);
            while self.sent < plan.bets {
                let fields = bet_fields(self.id, self.sent);
                let [first_name, last_name, document, birthdate, number] =
                    fields.each_ref().map(|s| s.as_bytes());
                let raw = RawBet {
                    first_name,
                    last_name,
                    document,
                    birthdate,
                    number,
                };
                if !batch.push(&raw).map_err(text)? {
                    break;
                }
                self.receipt.add_raw(&raw);
                self.sent += 1;
            }
            self.out.extend_from_slice(batch.frame().map_err(text)?);
            self.acks.push_back(self.sent);
        }
        if self.sent == plan.bets && !self.ended && !self.held {
            let end = ClientMessage::End { total: self.sent };
            end.encode(&mut self.out).map_err(text)?;
            self.acks.push_back(self.sent);
            self.ended = true;
        }
        Ok(())
    }

    /// Checks one frame from the server and answers it; the phase after it.
    fn answer(&mut self, message: ServerMessage<'_>, plan: &Plan<'_>) -> Result<Phase, String> {
        let phase = self.phase;
        match (phase, message) {
            (_, ServerMessage::Error { code, text }) => Err(format!("refused: {code:?}: {text}")),
            (Phase::Hello, ServerMessage::Welcome { position, ended })
                if position == 0 && !ended =>
            {
                Ok(Phase::Upload)
            }
            (Phase::Upload, ServerMessage::Ack { position }) => {
                match self.acks.pop_front() {
                    Some(expected) if expected == position => {}
                    expected => return Err(format!("ACK {position}, expected {expected:?}")),
                }
                if !(self.ended && self.acks.is_empty()) {
                    return Ok(phase);
                }
                ClientMessage::Winners.encode(&mut self.out).map_err(text)?;
                Ok(Phase::Receipt)
            }
            (Phase::Receipt, ServerMessage::Receipt { count, digest }) => {
                let same = digest == self.receipt.receipt().digest.0;
                if count != plan.bets || !same {
                    let (want, same) = (plan.bets, if same { "same" } else { "other" });
                    return Err(format!(
                        "receipt: {count} bets ({want} sent), {same} digest"
                    ));
                }
                Ok(Phase::Winners)
            }
            (Phase::Winners, ServerMessage::WinnerList { total, documents }) => {
                self.got.extend(documents.iter().map(str::to_owned));
                if self.got.len() < total as usize {
                    return Ok(phase);
                }
                // Ascending, and all of one length: sorted as text too.
                let want: Vec<String> = (0..plan.bets)
                    .filter(|&i| wins(self.id, i))
                    .map(|i| (u64::from(self.id) * DOC_SPAN + i).to_string())
                    .collect();
                self.got.sort();
                if self.got != want {
                    let right = self.got.iter().filter(|d| want.contains(d)).count();
                    let (got, want) = (self.got.len(), want.len());
                    return Err(format!("{got} winners, {right} of the {want} expected"));
                }
                Ok(Phase::Done)
            }
            (_, other) => Err(format!("unexpected {other:?}")),
        }
    }
}
