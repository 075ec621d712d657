//! Harness for tests that run the real `server` and `client` binaries on 127.0.0.1.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

pub(crate) use nix::sys::signal::Signal;
use tp0::protocol::{self, ClientMessage, Decoded, ErrorCode, ServerMessage};

mod data;
mod raw;
// Each test crate uses a part of the harness.
#[allow(unused_imports)]
pub(crate) use data::*;
#[allow(unused_imports)]
pub(crate) use raw::*;

pub(crate) const SERVER: &str = env!("CARGO_BIN_EXE_server");
pub(crate) const CLIENT: &str = env!("CARGO_BIN_EXE_client");
pub(crate) const GENDATA: &str = env!("CARGO_BIN_EXE_gendata");

/// A scratch directory removed on drop.
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub(crate) fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tp0-it-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("TP0_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A free port on 127.0.0.1 (bound and released; the server rebinds it with SO_REUSEADDR).
/// Sends `signal` to `pid`; a process already gone is not an error here.
pub(crate) fn send_signal(pid: i32, signal: Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `server` process with its log in `dir/server.log`.
pub(crate) struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Server {
    /// Starts a server in `dir` (bets file `dir/bets.csv`) for `agencies`, with extra env.
    pub(crate) fn start(dir: &Path, agencies: u32, env: &[(&str, &str)]) -> Server {
        Server::start_on(dir, 0, agencies, env)
    }

    pub(crate) fn start_on(dir: &Path, port: u16, agencies: u32, env: &[(&str, &str)]) -> Server {
        Server::start_wrapped(dir, port, agencies, env, &[])
    }

    /// Starts the server as the last argument of `wrapper` (e.g. `strace -f -o trace`), so
    /// `child` is the wrapper and the server its only child.
    pub(crate) fn start_wrapped(
        dir: &Path,
        port: u16,
        agencies: u32,
        env: &[(&str, &str)],
        wrapper: &[String],
    ) -> Server {
        let log = dir.join("server.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(SERVER);
                command
            }
            None => Command::new(SERVER),
        };
        command
            .current_dir(dir)
            .env("SERVER_PORT", port.to_string())
            .env("AGENCIES", agencies.to_string())
            .env("BETS_FILE", dir.join("bets.csv"))
            .env("LOGGING_LEVEL", "INFO")
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (key, value) in env {
            command.env(key, value);
        }
        let skip = std::fs::read_to_string(&log).map_or(0, |text| text.len());
        let child = command.spawn().unwrap();
        let mut server = Server {
            child,
            port,
            dir: dir.to_path_buf(),
            log,
        };
        server.port = server.wait_listening(skip);
        server
    }

    /// Waits for this run's `action: listen` line (after byte `skip` of the log) and returns its port.
    fn wait_listening(&self, skip: usize) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let logs = self.logs();
            if let Some(port) = logs
                .get(skip..)
                .and_then(|new| logged_value(new, "action: listen | result: success", "port"))
            {
                return port.parse().unwrap();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("server did not start: {}", self.logs());
    }

    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn count_in_log(&self, needle: &str) -> usize {
        self.logs()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// The coordinator's pid, from the log line the parent writes when it forks it.
    pub(crate) fn coordinator_pid(&self) -> i32 {
        let logs = self.logs();
        let pid = logged_value(
            &logs,
            "action: start_coordinator | result: success | pid",
            "pid",
        );
        pid.and_then(|pid| pid.parse().ok())
            .expect("the coordinator's pid is logged")
    }

    /// Waits until more than `batches` batches are stored: an upload is under way.
    pub(crate) fn wait_for_batches(&self, batches: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count_in_log("apuesta_recibida | result: success") <= batches {
            assert!(
                Instant::now() < deadline,
                "no upload under way: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub(crate) fn signal(&self, signal: Signal) {
        send_signal(self.pid(), signal);
    }

    /// SIGTERM and wait (bounded) for the exit status.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(15))
            .expect("server did not exit after SIGTERM")
    }

    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL the whole tree: the parent, the coordinator and every session child.
    pub(crate) fn kill_tree(&mut self) {
        let pids = descendants(self.pid());
        self.signal(Signal::SIGKILL);
        for &pid in &pids {
            send_signal(pid, Signal::SIGKILL);
        }
        let _ = self.child.wait();
        // Orphans are reaped by whoever adopts them; wait until none of them runs any more.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pids.iter().any(|pid| is_running(*pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill_tree();
        }
    }
}

/// Whether `pid` exists and is not a zombie.
pub(crate) fn is_running(pid: i32) -> bool {
    processes()
        .iter()
        .any(|(p, _, state)| *p == pid && *state != 'Z')
}

/// `(pid, ppid, state)` of every process.
pub(crate) fn processes() -> Vec<(i32, i32, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name may hold spaces: parse after its closing parenthesis.
        let Some(rest) = stat.rfind(')').map(|at| &stat[at + 2..]) else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        out.push((pid, ppid, state));
    }
    out
}

/// Children of `pid` (any state).
pub(crate) fn children_of(pid: i32) -> Vec<(i32, char)> {
    processes()
        .into_iter()
        .filter(|(_, ppid, _)| *ppid == pid)
        .map(|(p, _, s)| (p, s))
        .collect()
}

/// Every process below `pid`.
pub(crate) fn descendants(pid: i32) -> Vec<i32> {
    let all = processes();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            all.iter()
                .filter(|(_, ppid, _)| *ppid == parent)
                .map(|(p, _, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Runs a client to completion and returns its exit status and output.
pub(crate) fn run_client(
    address: &str,
    id: u32,
    data: &Path,
    env: &[(&str, &str)],
) -> (ExitStatus, String) {
    let output = spawn_client(address, id, data, env).wait_with_output();
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// A running client whose output goes to a file, so an unread pipe can never block it.
pub(crate) struct ClientProcess {
    child: Child,
    log: PathBuf,
}

/// What a finished client printed.
pub(crate) struct ClientOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
}

impl ClientProcess {
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    pub(crate) fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }

    pub(crate) fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    pub(crate) fn wait_with_output(mut self) -> ClientOutput {
        let status = self.child.wait().unwrap();
        let stdout = std::fs::read(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        ClientOutput { status, stdout }
    }
}

pub(crate) fn spawn_client(
    address: &str,
    id: u32,
    data: &Path,
    env: &[(&str, &str)],
) -> ClientProcess {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = std::env::temp_dir().join(format!("tp0-it-client-{}-{n}.log", std::process::id()));
    let out = std::fs::File::create(&log).unwrap();
    let mut command = Command::new(CLIENT);
    command
        .current_dir(std::env::temp_dir())
        .env("CLI_ID", id.to_string())
        .env("CLI_SERVER_ADDRESS", address)
        .env("CLI_DATA_FILE", data)
        .env("CLI_LOG_LEVEL", "INFO")
        .env("CLI_RETRY_TIMEOUT", "20s")
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    for (key, value) in env {
        command.env(key, value);
    }
    ClientProcess {
        child: command.spawn().unwrap(),
        log,
    }
}

/// One client per agency of `data`, all started at once.
pub(crate) fn spawn_agencies(
    server: &Server,
    data: &Dataset,
    env: &[(&str, &str)],
) -> Vec<ClientProcess> {
    (1..=data.agencies)
        .map(|id| spawn_client(&server.address(), id, &data.file(id), env))
        .collect()
}

/// Waits for every client and asserts each exited 0.
pub(crate) fn assert_all_succeed(clients: Vec<ClientProcess>) {
    for child in clients {
        let output = child.wait_with_output();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

/// Waits for `client` and asserts it exited 0 (else `failure` and its log) having logged
/// `winners` winners; returns its log.
pub(crate) fn finished_with_winners(
    client: ClientProcess,
    winners: usize,
    failure: &str,
) -> String {
    let output = client.wait_with_output();
    let log = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{failure}: {log}");
    assert_eq!(
        logged_value(&log, "consulta_ganadores", "cant_ganadores"),
        Some(winners.to_string())
    );
    log
}

/// Polls `done` every 5 ms until it holds, failing the test after `limit`.
pub(crate) fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The end state every fault test wants: each agency's file stored once, and one draw.
pub(crate) fn assert_one_complete_draw(server: &Server, data: &Dataset) {
    assert_stored_exactly_once(&server.dir.join("bets.csv"), data);
    assert_eq!(
        server.count_in_log("action: sorteo | result: success"),
        1,
        "{}",
        server.logs()
    );
}

/// The number after `key: ` in the first line containing `action`.
pub(crate) fn logged_value(log: &str, action: &str, key: &str) -> Option<String> {
    let line = log.lines().find(|line| line.contains(action))?;
    let at = line.find(&format!("{key}: "))? + key.len() + 2;
    Some(line[at..].split(" |").next()?.trim().to_string())
}
