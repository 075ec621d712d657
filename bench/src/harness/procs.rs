//! Starting and reaping the processes of a run, and scratch directories.
//!
//! Every process is started with a bare `fork` and `exec` ([`launch`]): `std::process::Command`
//! (and `posix_spawn`) return only once the child has called `exec`, and with thousands of
//! processes already running each new one waits its turn for a CPU before the bench may start
//! the next. The child only joins a new process group, redirects its output, changes directory,
//! sets the open-file limit and `exec`s, with everything prepared before the fork (no allocation
//! after it: the bench has other threads).

use std::ffi::CString;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::harness::ctx::{fail, Ctx, RunError};

/// How often the bench looks at its children while it waits.
pub const POLL: Duration = Duration::from_micros(500);

/// The open-file limit (soft, hard) the bench was started with, before it raised its own; the
/// server is started with it (see [`raise_fd_limit`]).
pub static INHERITED_NOFILE: OnceLock<(u64, u64)> = OnceLock::new();

/// What to start: program, arguments, directory, exact environment, log of stdout and stderr.
pub struct Spawn<'a> {
    /// The program.
    pub program: &'a Path,
    /// Its arguments (after its name).
    pub args: &'a [String],
    /// Its working directory.
    pub dir: &'a Path,
    /// Its whole environment.
    pub env: &'a [(&'a str, String)],
    /// Where stdout and stderr go.
    pub log: &'a Path,
    /// Give it the open-file limit the bench was started with.
    pub inherit_nofile: bool,
}

/// A C string from bytes, failing on an interior NUL.
fn c_string(bytes: &[u8]) -> Result<CString, RunError> {
    CString::new(bytes).map_err(fail("a NUL byte in an argument"))
}

/// Starts `spawn` as the leader of a new process group; its pid, without waiting for `exec`.
/// A failed `exec` shows as exit status 127.
pub fn launch(spawn: &Spawn<'_>) -> Result<Pid, RunError> {
    let prog = c_string(spawn.program.as_os_str().as_bytes())?;
    let cwd = c_string(spawn.dir.as_os_str().as_bytes())?;
    let args = spawn
        .args
        .iter()
        .map(|a| c_string(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let vars = spawn
        .env
        .iter()
        .map(|(k, v)| c_string(format!("{k}={v}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut argv = vec![prog.as_ptr()];
    argv.extend(args.iter().map(|a| a.as_ptr()));
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = vars.iter().map(|v| v.as_ptr()).collect();
    envp.push(std::ptr::null());
    let nofile = INHERITED_NOFILE
        .get()
        .filter(|_| spawn.inherit_nofile)
        .map(|&(soft, hard)| libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        });
    let out = File::create(spawn.log).map_err(fail(format!("create {}", spawn.log.display())))?;
    let null = File::open("/dev/null").map_err(fail("open /dev/null"))?;
    let (out_fd, null_fd) = (out.as_raw_fd(), null.as_raw_fd());
    // SAFETY: the child calls only async-signal-safe functions (setpgid, dup2, signal, setrlimit,
    // chdir, execve, _exit) on memory prepared before the fork, and never returns.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => unsafe {
            libc::setpgid(0, 0);
            libc::dup2(null_fd, 0);
            libc::dup2(out_fd, 1);
            libc::dup2(out_fd, 2);
            // Rust ignores SIGPIPE in the bench; a process started as a user starts it does not.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            if let Some(limit) = &nofile {
                libc::setrlimit(libc::RLIMIT_NOFILE, limit);
            }
            if libc::chdir(cwd.as_ptr()) == 0 {
                libc::execve(prog.as_ptr(), argv.as_ptr(), envp.as_ptr());
            }
            libc::_exit(127)
        },
        Ok(ForkResult::Parent { child }) => {
            // Set here too, so the group exists before the bench may signal it.
            let _ = nix::unistd::setpgid(child, child);
            Ok(child)
        }
        Err(err) => Err(RunError::Fail(format!(
            "fork for {}: {err}",
            spawn.program.display()
        ))),
    }
}

/// A started child in its own process group. Dropping it SIGKILLs the group unless the child was
/// seen to exit successfully, or it forks nothing (`forks: false`) and was reaped: then its id
/// may already lead another process's group.
pub struct Proc {
    /// For messages.
    pub name: String,
    /// The child (also its process group id).
    pub pid: Pid,
    /// Whether it starts processes of its own (the server).
    pub forks: bool,
    /// Its exit status, once reaped.
    pub status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `spawn`.
    pub fn start(
        name: impl Into<String>,
        spawn: &Spawn<'_>,
        forks: bool,
    ) -> Result<Proc, RunError> {
        Ok(Proc {
            name: name.into(),
            pid: launch(spawn)?,
            forks,
            status: None,
        })
    }

    /// `waitpid`, blocking or not; the status once known.
    fn reap(&mut self, block: bool) -> Result<Option<ExitStatus>, RunError> {
        let flags = (!block).then_some(WaitPidFlag::WNOHANG);
        while self.status.is_none() {
            self.status = match waitpid(self.pid, flags) {
                Ok(WaitStatus::Exited(_, code)) => Some(ExitStatus::from_raw(code << 8)),
                Ok(WaitStatus::Signaled(_, signal, _)) => Some(ExitStatus::from_raw(signal as i32)),
                Ok(WaitStatus::StillAlive) => return Ok(None),
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(err) => return Err(RunError::Fail(format!("wait for {}: {err}", self.name))),
            };
        }
        Ok(self.status)
    }

    /// Reaps the child if it exited.
    pub fn poll(&mut self) -> Result<Option<ExitStatus>, RunError> {
        self.reap(false)
    }

    /// Sends SIGTERM to the child alone (the server then stops its own children).
    pub fn terminate(&self) {
        if self.status.is_none() {
            let _ = kill(self.pid, Signal::SIGTERM);
        }
    }

    /// SIGKILLs the whole process group and reaps the leader.
    pub fn kill_group(&mut self) {
        let _ = killpg(self.pid, Signal::SIGKILL);
        let _ = self.reap(true);
    }

    /// Waits until the child exits or `deadline` passes.
    pub fn wait_until(
        &mut self,
        ctx: &Ctx,
        deadline: Instant,
    ) -> Result<Option<ExitStatus>, RunError> {
        loop {
            if let Some(status) = self.poll()? {
                return Ok(Some(status));
            }
            if let Err(abort) = ctx.check() {
                self.kill_group();
                return Err(abort);
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        match self.status {
            Some(status) if status.success() || !self.forks => {}
            _ => self.kill_group(),
        }
    }
}

/// Waits for all of `procs`; `Some(instant the last one was seen to exit)`, or `None` at the
/// deadline (the stragglers are left running for the caller's guards to kill).
pub fn wait_all(
    ctx: &Ctx,
    procs: &mut [Proc],
    deadline: Instant,
) -> Result<Option<Instant>, RunError> {
    let mut last = Instant::now();
    let mut scan = true;
    loop {
        if scan {
            let mut running = 0;
            for proc in procs.iter_mut().filter(|p| p.status.is_none()) {
                if proc.poll()?.is_some() {
                    last = Instant::now();
                } else {
                    running += 1;
                }
            }
            if running == 0 {
                return Ok(Some(last));
            }
        }
        ctx.check()?;
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(POLL);
        // One system call says whether any child has exited (and stays a zombie for the scan
        // to reap), instead of one `waitpid` per child every poll: with thousands of clients
        // that scan alone kept a CPU busy. An error counts as "yes".
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        scan = !matches!(waitid(Id::All, flags), Ok(WaitStatus::StillAlive));
    }
}

/// Describes an exit status for a failure message.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown exit".into(),
    }
}

/// While alive, the calling thread runs under `SCHED_FIFO` with `SCHED_RESET_ON_FORK`: it starts
/// the clients without queueing for a CPU behind the thousands it already started, and each child
/// starts as an ordinary `SCHED_OTHER` process. Without `CAP_SYS_NICE` nothing changes.
pub struct Urgent {
    /// Whether the switch to `SCHED_FIFO` was allowed.
    pub granted: bool,
}

impl Urgent {
    /// Raises the calling thread.
    pub fn raise() -> Urgent {
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: a system call on the calling thread (pid 0), with a valid parameter.
        let policy = libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK;
        let granted = unsafe { libc::sched_setscheduler(0, policy, &param) } == 0;
        Urgent { granted }
    }
}

impl Drop for Urgent {
    fn drop(&mut self) {
        if self.granted {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: as in `raise`.
            unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) };
        }
    }
}

/// Removes a scratch directory, ignoring "not there".
pub fn remove_dir(path: &Path) {
    if let Err(err) = fs::remove_dir_all(path) {
        if err.kind() != std::io::ErrorKind::NotFound {
            eprintln!("bench: warning: remove {}: {err}", path.display());
        }
    }
}

/// Removes the scratch root when dropped, on every path.
pub struct ScratchGuard(pub PathBuf);

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        remove_dir(&self.0);
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (thousands of clients are started at
/// once); the note says what it did.
pub fn raise_fd_limit() -> String {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            let _ = INHERITED_NOFILE.set((soft, hard));
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err() {
                return format!("The bench could not raise its open-file limit from {soft}.");
            }
            format!(
                "The bench raises its own soft open-file limit (RLIMIT_NOFILE) from {soft} to the \
                 hard limit {hard}; the server is started with the limit the bench itself was \
                 given ({soft}), so whatever it needs beyond that it must raise itself."
            )
        }
        Err(err) => format!("The bench could not read its open-file limit: {err}."),
    }
}
