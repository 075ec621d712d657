//! Reads an `strace -f -tt -yy -xx` trace of the server and checks the durability order: no ACK
//! leaves on a TCP socket before an `fdatasync` of the bets file that covers the acknowledged rows
//! has returned (in any process), and no END is acknowledged before its line in the END journal
//! (`<bets>.ends`) is covered by an `fdatasync` that has returned. Nor does any ACK leave before an
//! `fsync` of the bets file's directory has returned: the files' names must survive the cut too.
//!
//! Why the line order of the trace is a sound clock: strace prints a syscall's exit before it lets
//! the process run on, so anything that process does next (update shared memory, unlock, answer a
//! sibling) is printed later. A correct server therefore always prints the covering sync's exit
//! before the ACK's send; an ACK printed first is an ACK that did not wait. A sync covers what the
//! file held when it was *entered*, a write counts when it has *returned*: both err towards
//! "not durable", so the check never passes a server that does not wait.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};

use tp0::protocol::{decode, ClientMessage, Decoded, ServerMessage};
use tp0::rows::RowReader;

/// The syscalls the trace must hold (`strace -e trace=...`).
pub(crate) const SYSCALLS: &str =
    "write,writev,pwrite64,sendto,sendmsg,read,readv,recvfrom,recvmsg,\
                            fdatasync,fsync,ftruncate";

/// What the checker found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Batch ACKs checked.
    pub acks: usize,
    /// ACKs of END checked.
    pub end_acks: usize,
    /// Successful `fdatasync`/`fsync` calls on the bets file or the journal.
    pub syncs: usize,
    /// ACKs that left before their bytes were durable.
    pub violations: Vec<String>,
    /// Things the checker could not follow (truncated strings, an ACK for no request, ...).
    pub anomalies: Vec<String>,
}

/// One traced syscall, its entry and exit merged.
struct Call {
    pid: u32,
    name: String,
    /// The fd's description (`-yy`): a path, `TCP:[a->b]`, `UNIX:[...]`, ...
    desc: Vec<u8>,
    /// The bytes of the string arguments, in order (a buffer, or iovecs).
    data: Vec<u8>,
    truncated: bool,
    /// The last numeric argument (ftruncate's length).
    last_number: Option<u64>,
    ret: i64,
    entry: usize,
    exit: usize,
}

/// Parses a trace into calls; lines it does not know (signals, exits) are skipped.
fn parse(trace: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: HashMap<u32, (String, String, usize)> = HashMap::new();
    for (index, line) in trace.lines().enumerate() {
        // strace pads the pid column (`2140  22:24:51.523401 ...`): split on runs of spaces.
        let Some((pid, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Some((_time, rest)) = rest.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let (name, text, entry) = if let Some(resumed) = rest.strip_prefix("<... ") {
            let Some((name, tail)) = resumed.split_once(" resumed>") else {
                continue;
            };
            let Some((_, head, entry)) = pending.remove(&pid).filter(|(n, _, _)| n == name) else {
                continue;
            };
            (name.to_string(), format!("{head}{tail}"), entry)
        } else if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            let Some((name, args)) = head.split_once('(') else {
                continue;
            };
            pending.insert(pid, (name.to_string(), args.to_string(), index));
            continue;
        } else {
            let Some((name, args)) = rest.split_once('(') else {
                continue;
            };
            (name.to_string(), args.to_string(), index)
        };
        if let Some(call) = call(pid, name, &text, entry, index) {
            calls.push(call);
        }
    }
    calls
}

/// Builds a call from `args) = ret`.
fn call(pid: u32, name: String, text: &str, entry: usize, exit: usize) -> Option<Call> {
    let (args, ret) = text.rsplit_once(") = ")?;
    let ret: i64 = ret.split(' ').next()?.parse().ok()?;
    let fd_end = args.find('<')?;
    let (desc, after) = unescape(&args[fd_end + 1..], b'>');
    let after = after.strip_prefix('>')?;
    let mut data = Vec::new();
    let mut truncated = false;
    let mut rest = after;
    while let Some(at) = rest.find('"') {
        let (bytes, tail) = unescape(&rest[at + 1..], b'"');
        data.extend_from_slice(&bytes);
        let tail = tail.strip_prefix('"')?;
        truncated |= tail.starts_with("...");
        rest = tail;
    }
    let last_number = after
        .rsplit(", ")
        .next()
        .and_then(|n| n.trim().parse().ok());
    Some(Call {
        pid,
        name,
        desc,
        data,
        truncated,
        last_number,
        ret,
        entry,
        exit,
    })
}

/// Decodes strace's escapes (`-xx` writes every byte as `\xHH`; the short ones are kept for
/// robustness) up to `end`, which `-xx` never leaves unescaped; returns the bytes and the rest.
fn unescape(text: &str, end: u8) -> (Vec<u8>, &str) {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() && bytes[i] != end {
        if bytes[i] != b'\\' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = || {
            let digits = std::str::from_utf8(bytes.get(i + 2..i + 4)?).ok()?;
            u8::from_str_radix(digits, 16).ok()
        };
        let (byte, used) = match bytes[i + 1] {
            b'x' => (hex().unwrap_or(b'?'), 4),
            b'n' => (b'\n', 2),
            b't' => (b'\t', 2),
            b'r' => (b'\r', 2),
            b'v' => (0x0B, 2),
            b'f' => (0x0C, 2),
            b'0' => (0, 2),
            other => (other, 2),
        };
        out.push(byte);
        i += used;
    }
    (out, &text[i.min(text.len())..])
}

/// What a request read from a client expects as its ACK.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Batch,
    End { total: u64 },
}

#[derive(Default)]
struct Socket {
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    agency: Option<u32>,
    queue: VecDeque<Expect>,
    /// Not our protocol (a text line for the echo), or past a decoding error: not followed.
    lost: bool,
}

#[derive(Default)]
struct File {
    content: Vec<u8>,
    durable: usize,
}

/// Checks a trace of a server whose bets file is `bets` (and journal `bets.ends`), starting empty.
pub(crate) fn check(trace: &str, bets: &str) -> Report {
    let calls = parse(trace);
    let ends = format!("{bets}.ends");
    let dir = bets.rsplit_once('/').map_or(".", |(dir, _)| dir);
    let mut dir_synced = false;
    let mut events: Vec<(usize, bool, usize)> = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        events.push((call.entry, false, i));
        events.push((call.exit, true, i));
    }
    events.sort();
    let mut report = Report::default();
    let mut files: HashMap<Vec<u8>, File> = HashMap::new();
    let mut sockets: HashMap<(u32, Vec<u8>), Socket> = HashMap::new();
    let mut sync_from: HashMap<usize, usize> = HashMap::new();
    for (line, is_exit, i) in events {
        let call = &calls[i];
        let tcp = call.desc.starts_with(b"TCP");
        let file = call.desc == bets.as_bytes() || call.desc == ends.as_bytes();
        if call.truncated && (tcp || file) {
            report
                .anomalies
                .push(format!("line {}: a truncated string", line + 1));
        }
        let ok = call.ret >= 0;
        let data = &call.data[..call.data.len().min(call.ret.max(0) as usize)];
        match (call.name.as_str(), is_exit) {
            ("fsync" | "fdatasync", true) if call.desc == dir.as_bytes() && call.ret == 0 => {
                dir_synced = true;
            }
            ("fdatasync" | "fsync", false) if file => {
                let len = files.entry(call.desc.clone()).or_default().content.len();
                sync_from.insert(i, len);
            }
            ("fdatasync" | "fsync", true) if file && call.ret == 0 => {
                let state = files.entry(call.desc.clone()).or_default();
                let covered = sync_from
                    .get(&i)
                    .copied()
                    .unwrap_or(0)
                    .min(state.content.len());
                state.durable = state.durable.max(covered);
                report.syncs += 1;
            }
            ("write" | "writev" | "pwrite64", true) if file && ok => {
                if call.name == "pwrite64" {
                    report
                        .anomalies
                        .push(format!("line {}: pwrite64 not followed", line + 1));
                }
                files
                    .entry(call.desc.clone())
                    .or_default()
                    .content
                    .extend_from_slice(data);
            }
            ("ftruncate", true) if file && call.ret == 0 => {
                let state = files.entry(call.desc.clone()).or_default();
                let len = call.last_number.unwrap_or(0) as usize;
                state.content.resize(len, 0);
                state.durable = state.durable.min(len);
            }
            ("read" | "readv" | "recvfrom" | "recvmsg", true) if tcp && ok => {
                let socket = sockets.entry((call.pid, call.desc.clone())).or_default();
                socket.inbound.extend_from_slice(data);
                read_requests(socket);
            }
            ("write" | "writev" | "sendto" | "sendmsg", false) if tcp => {
                let socket = sockets.entry((call.pid, call.desc.clone())).or_default();
                socket.outbound.extend_from_slice(data);
                let bets_file = files.get(bets.as_bytes());
                let ends_file = files.get(ends.as_bytes());
                let durable = Durable {
                    bets: bets_file,
                    ends: ends_file,
                    dir_synced,
                };
                check_acks(socket, &durable, line, &mut report);
            }
            _ => {}
        }
    }
    report
}

/// Decodes the requests a client sent; each BET, BETS and END awaits one ACK.
fn read_requests(socket: &mut Socket) {
    while !socket.lost {
        match decode(&socket.inbound) {
            Ok(Decoded::Frame(message, used)) => {
                match message {
                    ClientMessage::Hello { agency, .. } => socket.agency = Some(agency),
                    ClientMessage::Bets { .. } | ClientMessage::Bet { .. } => {
                        socket.queue.push_back(Expect::Batch)
                    }
                    ClientMessage::End { total } => socket.queue.push_back(Expect::End { total }),
                    _ => {}
                }
                socket.inbound.drain(..used);
            }
            Ok(Decoded::Incomplete) => return,
            Err(_) => socket.lost = true,
        }
    }
}

/// What is on disk at one line of the trace.
struct Durable<'a> {
    bets: Option<&'a File>,
    ends: Option<&'a File>,
    dir_synced: bool,
}

/// Checks each ACK in what the server sent against what is durable at this line.
fn check_acks(socket: &mut Socket, on_disk: &Durable<'_>, line: usize, report: &mut Report) {
    while !socket.lost {
        let (position, used) = match decode(&socket.outbound) {
            Ok(Decoded::Frame(ServerMessage::Ack { position }, used)) => (position, used),
            Ok(Decoded::Frame(_, used)) => {
                socket.outbound.drain(..used);
                continue;
            }
            Ok(Decoded::Incomplete) => return,
            Err(_) => {
                socket.lost = true;
                return;
            }
        };
        socket.outbound.drain(..used);
        let at = format!("line {}", line + 1);
        let (Some(expect), Some(agency)) = (socket.queue.pop_front(), socket.agency) else {
            report
                .anomalies
                .push(format!("{at}: an ACK for no request"));
            continue;
        };
        if !on_disk.dir_synced {
            report.violations.push(format!(
                "{at}: ACK sent before the bets file's directory was synced"
            ));
        }
        let durable = on_disk.bets.map_or(&[][..], |f| &f.content[..f.durable]);
        let rows = rows_of(durable, agency);
        if rows < position {
            report.violations.push(format!(
                "{at}: ACK of {position} bets of agency {agency} sent with {rows} of them durable"
            ));
        }
        match expect {
            Expect::Batch => report.acks += 1,
            Expect::End { total } => {
                report.end_acks += 1;
                let journal = on_disk.ends.map_or(&[][..], |f| &f.content[..f.durable]);
                let entry = format!("{agency},{total}");
                if !journal
                    .split(|&b| b == b'\n')
                    .any(|l| l == entry.as_bytes())
                {
                    report.violations.push(format!(
                        "{at}: END of agency {agency} acknowledged before '{entry}' was durable in the journal"
                    ));
                }
            }
        }
    }
}

/// Rows of `agency` in a prefix of the bets file (rows are CSV: a name may hold a line break).
fn rows_of(bytes: &[u8], agency: u32) -> u64 {
    let mut reader = RowReader::new(bytes);
    let mut rows = 0;
    while let Ok(Some(fields)) = reader.next_row() {
        if fields.get(0) == agency.to_string().as_bytes() {
            rows += 1;
        }
    }
    rows
}
