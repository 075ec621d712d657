//! Starting and reaping the processes of a run, and scratch directories. A bare `fork` and
//! `exec` ([`launch`]): `std::process::Command` returns only once the child has called `exec`,
//! which with thousands of processes running waits for a CPU.

use std::ffi::CString;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::fmt::fill;
use crate::harness::{fail, Ctx, Result};

/// How often the bench looks at its children while it waits.
const POLL: Duration = Duration::from_micros(500);
/// The open-file limit (soft, hard) the bench was started with, before it raised its own.
static INHERITED_NOFILE: OnceLock<(u64, u64)> = OnceLock::new();

/// What to start: program, directory, log (stdout and stderr), arguments, the whole
/// environment, and whether it gets the open-file limit the bench was started with.
pub struct Spawn<'a>(
    pub &'a Path,
    pub &'a Path,
    pub &'a Path,
    pub &'a [String],
    pub &'a [(&'a str, String)],
    pub bool,
);

/// C strings, failing on an interior NUL.
fn c_strings(items: impl IntoIterator<Item = Vec<u8>>) -> Result<Vec<CString>> {
    let c = |bytes| CString::new(bytes).map_err(fail("a NUL byte in an argument"));
    items.into_iter().map(c).collect()
}

/// Starts `spawn` as the leader of a new process group; a failed `exec` exits 127.
fn launch(&Spawn(program, dir, log, args, env, inherit_nofile): &Spawn<'_>) -> Result<Pid> {
    let paths = c_strings([program, dir].map(|p| p.as_os_str().as_bytes().to_vec()))?;
    let args = c_strings(args.iter().map(|a| a.clone().into_bytes()))?;
    let vars = c_strings(env.iter().map(|(k, v)| format!("{k}={v}").into_bytes()))?;
    let (prog, cwd) = (&paths[0], &paths[1]);
    let mut argv = vec![prog.as_ptr()];
    argv.extend(args.iter().map(|a| a.as_ptr()));
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = vars.iter().map(|v| v.as_ptr()).collect();
    envp.push(std::ptr::null());
    let nofile = INHERITED_NOFILE.get().filter(|_| inherit_nofile);
    let nofile = nofile.map(|&(rlim_cur, rlim_max)| libc::rlimit { rlim_cur, rlim_max });
    let out = File::create(log).map_err(fail(format!("create {}", log.display())))?;
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
        Err(err) => Err(format!("fork for {}: {err}", program.display()).into()),
    }
}

/// A started child in its own process group; dropping it SIGKILLs the group unless the child
/// exited 0, or forks nothing and was reaped.
pub struct Proc {
    /// For messages.
    pub name: String,
    /// The child (also its process group id).
    pub pid: Pid,
    /// Whether it starts processes of its own (the server).
    forks: bool,
    /// Its exit status, once reaped.
    pub status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `spawn`; `forks` if it starts processes of its own.
    pub fn start(name: impl Into<String>, spawn: &Spawn<'_>, forks: bool) -> Result<Proc> {
        let pid = launch(spawn)?;
        Ok(Proc {
            name: name.into(),
            pid,
            forks,
            status: None,
        })
    }

    /// `waitpid`, blocking or not; the status once known.
    fn reap(&mut self, block: bool) -> Result<Option<ExitStatus>> {
        let flags = (!block).then_some(WaitPidFlag::WNOHANG);
        while self.status.is_none() {
            self.status = match waitpid(self.pid, flags) {
                Ok(WaitStatus::Exited(_, code)) => Some(ExitStatus::from_raw(code << 8)),
                Ok(WaitStatus::Signaled(_, signal, _)) => Some(ExitStatus::from_raw(signal as i32)),
                Ok(WaitStatus::StillAlive) => return Ok(None),
                Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                Err(err) => return Err(format!("wait for {}: {err}", self.name).into()),
            };
        }
        Ok(self.status)
    }

    /// Reaps the child if it exited.
    pub fn poll(&mut self) -> Result<Option<ExitStatus>> {
        self.reap(false)
    }

    /// SIGKILLs the whole process group and reaps the leader.
    pub fn kill_group(&mut self) {
        let _ = killpg(self.pid, Signal::SIGKILL);
        let _ = self.reap(true);
    }

    /// Waits until the child exits (its status) or `deadline` passes (`None`).
    pub fn wait_until(&mut self, ctx: &Ctx, deadline: Instant) -> Result<Option<ExitStatus>> {
        loop {
            if let Some(status) = self.poll()? {
                return Ok(Some(status));
            }
            ctx.check().inspect_err(|_| self.kill_group())?;
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

/// Waits for all of `procs`: the instant the last one was seen to exit, or `None` at the
/// deadline.
pub fn wait_all(ctx: &Ctx, procs: &mut [Proc], deadline: Instant) -> Result<Option<Instant>> {
    let (mut last, mut scan) = (Instant::now(), true);
    loop {
        if scan {
            let mut running = 0;
            for proc in procs.iter_mut().filter(|p| p.status.is_none()) {
                match proc.poll()? {
                    Some(_) => last = Instant::now(),
                    None => running += 1,
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
        // One system call says whether any child has exited (it stays a zombie for the scan),
        // not a `waitpid` per child every poll. An error counts as "yes".
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        scan = !matches!(waitid(Id::All, flags), Ok(WaitStatus::StillAlive));
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

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (thousands of clients run at once); the
/// note says what it did.
pub fn raise_fd_limit() -> String {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return "The bench could not read its open-file limit.".into();
    };
    let _ = INHERITED_NOFILE.set((soft, hard));
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_err() {
        return format!("The bench could not raise its open-file limit from {soft}.");
    }
    let (soft, hard) = (soft.to_string(), hard.to_string());
    let values = [("soft", soft), ("hard", hard)];
    fill(include_str!("fd-limit.md"), &values)
}
