//! The real `server` process: started in a directory, read through its log, stopped or killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use super::{descendants, is_running, logged_value, send_signal, Signal, SERVER};

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

    /// As [`Server::start`], on `port` (0: any free port).
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

    /// `127.0.0.1:<port>`, what a client is given as the server's address.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Everything every run in this directory logged so far.
    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Log lines containing `needle`.
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

    /// The parent's pid.
    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to the parent.
    pub(crate) fn signal(&self, signal: Signal) {
        send_signal(self.pid(), signal);
    }

    /// SIGTERM and wait (bounded) for the exit status.
    pub(crate) fn terminate(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait_exit(Duration::from_secs(15))
            .expect("server did not exit after SIGTERM")
    }

    /// The parent's exit status, if it exits within `limit`.
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

/// Starts a server in `dir` that should refuse to run (`SERVER_PORT=0`, `BETS_FILE=dir/bets.csv`,
/// `LOGGING_LEVEL=INFO`, then `env`): its exit code (None if it was still running after 10 s,
/// then killed) and its output.
pub(crate) fn refused_start(dir: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let log = dir.join("refused.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut command = Command::new(SERVER);
    command
        .current_dir(dir)
        .env("SERVER_PORT", "0")
        .env("BETS_FILE", dir.join("bets.csv"))
        .env("LOGGING_LEVEL", "INFO")
        .stdout(out);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut server = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() >= deadline {
            let _ = server.kill();
            let _ = server.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    (status, log)
}
