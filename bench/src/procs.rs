//! Process driving: errors, interruption, the spawned children and scratch directories.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// How often the bench looks at its children while it waits.
pub(crate) const POLL: Duration = Duration::from_micros(500);

/// Why a step stopped early.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The bench was interrupted (SIGINT, SIGTERM, SIGHUP): clean up and stop everything.
    Abort,
    /// This run or data set failed, with the reason; the bench goes on.
    Fail(String),
}

/// Turns an I/O-style error into a [`RunError::Fail`] with context.
pub(crate) fn fail<E: std::fmt::Display>(
    what: impl std::fmt::Display,
) -> impl FnOnce(E) -> RunError {
    move |err| RunError::Fail(format!("{what}: {err}"))
}

/// What every step needs: where the binaries are and whether to stop.
pub(crate) struct Ctx {
    /// Directory holding `server`, `client` and `gendata`.
    pub bins: PathBuf,
    /// Set by the signal handlers.
    pub interrupted: Arc<AtomicBool>,
}

impl Ctx {
    /// `Err(Abort)` once a stop signal arrived.
    pub(crate) fn check(&self) -> Result<(), RunError> {
        if self.interrupted.load(Ordering::Relaxed) {
            Err(RunError::Abort)
        } else {
            Ok(())
        }
    }

    /// Path of one of the project's binaries.
    pub(crate) fn bin(&self, name: &str) -> PathBuf {
        self.bins.join(name)
    }
}

/// How a child was started.
pub(crate) enum Handle {
    /// By `std::process::Command` (which waits for the child's `exec`).
    Std(Child),
    /// By a bare `fork` and `exec` ([`crate::launch`]), reaped with `waitpid`.
    Raw(Pid),
}

impl Handle {
    /// The pid.
    fn pid(&self) -> Pid {
        match self {
            Handle::Std(child) => Pid::from_raw(child.id() as i32),
            Handle::Raw(pid) => *pid,
        }
    }

    /// `waitpid`, blocking or not; `None` while it runs.
    fn wait(&mut self, block: bool) -> std::io::Result<Option<ExitStatus>> {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        use std::os::unix::process::ExitStatusExt;
        match self {
            Handle::Std(child) if block => child.wait().map(Some),
            Handle::Std(child) => child.try_wait(),
            Handle::Raw(pid) => {
                let flags = (!block).then_some(WaitPidFlag::WNOHANG);
                loop {
                    return match waitpid(*pid, flags) {
                        Ok(WaitStatus::Exited(_, code)) => {
                            Ok(Some(ExitStatus::from_raw(code << 8)))
                        }
                        Ok(WaitStatus::Signaled(_, signal, _)) => {
                            Ok(Some(ExitStatus::from_raw(signal as i32)))
                        }
                        Ok(WaitStatus::StillAlive) => Ok(None),
                        Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                        Err(err) => Err(err.into()),
                    };
                }
            }
        }
    }
}

/// A spawned child in its own process group; the whole group is SIGKILLed when this is dropped
/// unless the child was seen to exit successfully (a server that crashed may leave children).
pub(crate) struct Proc {
    /// For messages.
    name: String,
    /// The child.
    child: Handle,
    /// Its exit status, once reaped.
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` as the leader of a new process group.
    pub(crate) fn spawn(name: impl Into<String>, cmd: &mut Command) -> Result<Proc, RunError> {
        let name = name.into();
        cmd.process_group(0);
        let child = cmd.spawn().map_err(fail(format!("spawn {name}")))?;
        Ok(Proc {
            name,
            child: Handle::Std(child),
            status: None,
        })
    }

    /// A child already started by [`crate::launch`], which must start no processes of its own
    /// (a client): its group is not killed once it has been reaped.
    pub(crate) fn raw(name: impl Into<String>, pid: Pid) -> Proc {
        Proc {
            name: name.into(),
            child: Handle::Raw(pid),
            status: None,
        }
    }

    /// The child's pid (also its process group id).
    pub(crate) fn pid(&self) -> Pid {
        self.child.pid()
    }

    /// The exit status, if the child was seen to exit.
    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Reaps the child if it exited; the status once known.
    pub(crate) fn poll(&mut self) -> Result<Option<ExitStatus>, RunError> {
        if self.status.is_none() {
            self.status = self
                .child
                .wait(false)
                .map_err(fail(format!("wait for {}", self.name)))?;
        }
        Ok(self.status)
    }

    /// Sends SIGTERM to the child alone (the server then stops its own children).
    pub(crate) fn terminate(&self) {
        if self.status.is_none() {
            // ESRCH only means it is already gone.
            let _ = kill(self.pid(), Signal::SIGTERM);
        }
    }

    /// SIGKILLs the whole process group and reaps the leader.
    pub(crate) fn kill_group(&mut self) {
        let _ = killpg(self.pid(), Signal::SIGKILL);
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.wait(true) {
                self.status = Some(status);
            }
        }
    }

    /// Waits until the child exits or `deadline` passes.
    pub(crate) fn wait_until(
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
        match (&self.child, self.status) {
            (_, Some(status)) if status.success() => {}
            // A client started by `launch` forks nothing: once it is reaped its group is empty,
            // and its id may already lead another process's group, which must not be killed.
            (Handle::Raw(_), Some(_)) => {}
            _ => self.kill_group(),
        }
    }
}

/// Waits for all of `procs`; `Some(instant the last one was seen to exit)`, or `None` at the
/// deadline (the stragglers are left running for the caller's guards to kill).
pub(crate) fn wait_all(
    ctx: &Ctx,
    procs: &mut [Proc],
    deadline: Instant,
) -> Result<Option<Instant>, RunError> {
    let mut last = Instant::now();
    let mut scan = true;
    loop {
        if !scan {
            // One system call says whether any child has exited (and stays a zombie for the
            // scan to reap), instead of one `try_wait` per child every poll: with thousands of
            // clients that scan alone kept a CPU busy.
            scan = some_child_exited();
            ctx.check()?;
            if Instant::now() >= deadline {
                return Ok(None);
            }
            if !scan {
                std::thread::sleep(POLL);
                continue;
            }
        }
        scan = false;
        let mut running = 0;
        for proc in procs.iter_mut() {
            if proc.status.is_none() {
                if proc.poll()?.is_some() {
                    last = Instant::now();
                } else {
                    running += 1;
                }
            }
        }
        if running == 0 {
            return Ok(Some(last));
        }
        ctx.check()?;
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// Whether some child of the bench has exited and not been reaped (`waitid` with `WNOWAIT`:
/// nothing is reaped here). Errors count as "yes", so the caller scans.
fn some_child_exited() -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    !matches!(
        waitid(
            Id::All,
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT
        ),
        Ok(WaitStatus::StillAlive)
    )
}

/// Describes an exit status for a failure message.
pub(crate) fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown exit".into(),
    }
}

/// Creates a log file for a child's stdout and stderr.
pub(crate) fn log_files(path: &Path) -> Result<(Stdio, Stdio), RunError> {
    let file = File::create(path).map_err(fail(format!("create {}", path.display())))?;
    let copy = file
        .try_clone()
        .map_err(fail(format!("dup {}", path.display())))?;
    Ok((Stdio::from(file), Stdio::from(copy)))
}

/// Removes a scratch directory, ignoring "not there".
pub(crate) fn remove_dir(path: &Path) {
    if let Err(err) = fs::remove_dir_all(path) {
        if err.kind() != std::io::ErrorKind::NotFound {
            eprintln!("bench: warning: remove {}: {err}", path.display());
        }
    }
}

/// Removes the scratch root when dropped, on every path.
pub(crate) struct ScratchGuard(pub PathBuf);

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        remove_dir(&self.0);
    }
}

/// The open-file limit (soft, hard) the bench was started with, before it raised its own; the
/// server is started with it (see [`raise_fd_limit`]).
pub(crate) static INHERITED_NOFILE: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (thousands of clients are started at
/// once); a note says what it is.
pub(crate) fn raise_fd_limit(notes: &mut Vec<String>) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            let _ = INHERITED_NOFILE.set((soft, hard));
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err() {
                notes.push(format!(
                    "The bench could not raise its open-file limit from {soft}."
                ));
                return;
            }
            notes.push(format!(
                "The bench raises its own soft open-file limit (RLIMIT_NOFILE) from {soft} to the \
                 hard limit {hard}; the server is started with the limit the bench itself was \
                 given ({soft}), so whatever it needs beyond that it must raise itself."
            ));
        }
        Err(err) => notes.push(format!(
            "The bench could not read its open-file limit: {err}."
        )),
    }
}
