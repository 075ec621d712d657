//! The process table as the tests see it (`/proc`), and signals to what is in it.

use std::net::TcpListener;

use super::Signal;

/// Sends `signal` to `pid`; a process already gone is not an error here.
pub(crate) fn send_signal(pid: i32, signal: Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
}

/// A free port on 127.0.0.1 (bound and released; the server rebinds it with SO_REUSEADDR).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
