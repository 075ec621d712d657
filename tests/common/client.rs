//! The real `client` process: one agency's upload and winners query, and what it logged.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};

use super::{logged_value, Dataset, Server, CLIENT};

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

impl ClientOutput {
    /// Its log as text.
    pub(crate) fn log(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl ClientProcess {
    /// Its pid.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()
    }

    /// Waits for it to exit.
    pub(crate) fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }

    /// Its exit status if it has exited.
    pub(crate) fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits for it to exit and returns what it printed.
    pub(crate) fn wait_with_output(mut self) -> ClientOutput {
        let status = self.child.wait().unwrap();
        let stdout = std::fs::read(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        ClientOutput { status, stdout }
    }
}

/// Starts a client for agency `id` with data file `data` against `address`, with extra env.
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

/// Runs a client to completion and returns its exit status and output.
pub(crate) fn run_client(
    address: &str,
    id: u32,
    data: &Path,
    env: &[(&str, &str)],
) -> (ExitStatus, String) {
    let output = spawn_client(address, id, data, env).wait_with_output();
    (output.status, output.log())
}

/// Runs a client to completion, asserts it exited 0 (else its log is the failure), and returns
/// its log.
pub(crate) fn run_client_ok(address: &str, id: u32, data: &Path, env: &[(&str, &str)]) -> String {
    let (status, log) = run_client(address, id, data, env);
    assert!(status.success(), "agency {id} failed: {log}");
    log
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
        assert!(output.status.success(), "{}", output.log());
    }
}

/// Waits for the clients of `data`'s agencies, in agency order, and asserts each exited 0 having
/// logged its agency's winners (`what` says where in the test, for the failure); returns their logs.
pub(crate) fn assert_each_gets_its_winners(
    clients: Vec<ClientProcess>,
    data: &Dataset,
    what: &str,
) -> Vec<String> {
    let mut logs = Vec::new();
    for (index, child) in clients.into_iter().enumerate() {
        let client = format!("{what}client {}", index + 1);
        let output = child.wait_with_output();
        let log = output.log();
        assert!(output.status.success(), "{client} failed:\n{log}");
        assert_winners(&log, data.winners[index], &client);
        logs.push(log);
    }
    logs
}

/// Asserts a client's `log` reports `winners` winners (`what` names the client in the failure).
pub(crate) fn assert_winners(log: &str, winners: usize, what: &str) {
    assert_eq!(
        logged_value(log, "consulta_ganadores", "cant_ganadores"),
        Some(winners.to_string()),
        "{what}: {log}"
    );
}

/// Waits for `client` and asserts it exited 0 (else `failure` and its log) having logged
/// `winners` winners; returns its log.
pub(crate) fn finished_with_winners(
    client: ClientProcess,
    winners: usize,
    failure: &str,
) -> String {
    let output = client.wait_with_output();
    let log = output.log();
    assert!(output.status.success(), "{failure}: {log}");
    assert_winners(&log, winners, failure);
    log
}
