//! The Python child process: framed request/reply over its stdin/stdout with a time limit on
//! each call, its stderr kept.

use super::watchdog::{Watchdog, lock};
use std::collections::VecDeque;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Replies larger than this are treated as garbage rather than allocated: the largest real
/// ones (a space description with per-pixel bounds) are a few megabytes.
pub(super) const MAX_FRAME: usize = 1 << 30;

/// How much of the child's stderr is kept for error messages (a Python traceback fits).
const STDERR_TAIL: usize = 16 * 1024;

/// Why a call got no reply.
#[derive(Debug)]
pub(super) enum CallError {
    /// The limit passed; the process has been killed.
    TimedOut,
    /// The request could not be written; see [`Process::post_mortem`].
    Send(io::Error),
    /// The reply could not be read, or was unreadable; see [`Process::post_mortem`].
    Receive(io::Error),
}

/// A running interpreter. Dropping it kills the process.
pub(super) struct Process {
    /// Shared with the watchdog, which kills it.
    child: Arc<Mutex<Child>>,
    pid: u32,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr_tail: Arc<Mutex<VecDeque<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
    watchdog: Watchdog,
}

impl Process {
    /// Starts `python -c script`. The child's stderr is copied to ours, as if inherited, and
    /// its tail is kept so that a crash can be explained.
    pub(super) fn spawn(python: &Path, script: &str) -> io::Result<Self> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            // Cannot happen with all three piped; kill rather than leave the child behind.
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("the child's pipes were not created"));
        };
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr_tail);
        let stderr_thread = std::thread::Builder::new()
            .name("python-env-stderr".to_string())
            .spawn(move || copy_stderr(stderr, &tail));
        let stderr_thread = match stderr_thread {
            Ok(handle) => handle,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let pid = child.id();
        let child = Arc::new(Mutex::new(child));
        let watchdog = match Watchdog::spawn(Arc::clone(&child)) {
            Ok(watchdog) => watchdog,
            Err(e) => {
                let mut child = lock(&child);
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(Process {
            child,
            pid,
            stdin,
            stdout: BufReader::with_capacity(64 * 1024, stdout),
            stderr_tail,
            stderr_thread: Some(stderr_thread),
            watchdog,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `request` (a whole frame, length prefix included) and reads the reply's payload
    /// into `reply`, all within `limit`.
    pub(super) fn call(
        &mut self,
        request: &[u8],
        reply: &mut Vec<u8>,
        limit: Duration,
    ) -> Result<(), CallError> {
        self.watchdog.arm(limit);
        // A child that stops reading can block the write as well as the read.
        let io = match self.stdin.write_all(request) {
            Ok(()) => self.receive(reply).map_err(CallError::Receive),
            Err(e) => Err(CallError::Send(e)),
        };
        if self.watchdog.disarm() {
            return Err(CallError::TimedOut);
        }
        io
    }

    /// Waits, within `limit`, for the process to exit by itself (after it acknowledged a
    /// close): its stdout ends when it does.
    pub(super) fn wait(mut self, limit: Duration) -> Result<(), CallError> {
        self.watchdog.arm(limit);
        let drained = io::copy(&mut self.stdout, &mut io::sink());
        if self.watchdog.disarm() {
            return Err(CallError::TimedOut);
        }
        drained.map_err(CallError::Receive)?;
        lock(&self.child)
            .wait()
            .map(|_| ())
            .map_err(CallError::Receive)
    }

    /// Reads one frame's payload into `buf`, replacing its contents.
    fn receive(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        let mut head = [0u8; 4];
        self.stdout.read_exact(&mut head)?;
        let len = u32::from_le_bytes(head) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a reply claims {len} bytes, more than the limit of {MAX_FRAME}"),
            ));
        }
        buf.clear();
        buf.resize(len, 0);
        self.stdout.read_exact(buf)
    }

    /// Ends the process and says how it ended, with the end of what it wrote to stderr.
    /// Called once the pipes have failed, when the process is usually dead already (then the
    /// kill changes nothing and the status is its own).
    pub(super) fn post_mortem(&mut self) -> String {
        let status = {
            let mut child = lock(&self.child);
            let _ = child.kill();
            child.wait()
        };
        let status = match status {
            Ok(status) => status.to_string(),
            Err(e) => format!("status unknown: {e}"),
        };
        // The stderr pipe closes when the process is gone, so the copy finishes and the tail
        // is complete.
        if let Some(handle) = self.stderr_thread.take() {
            let _ = handle.join();
        }
        let tail = self
            .stderr_tail
            .lock()
            .map(|mut t| String::from_utf8_lossy(t.make_contiguous()).into_owned())
            .unwrap_or_default();
        let tail = tail.trim_end();
        if tail.is_empty() {
            format!("the Python process ended ({status}) and wrote nothing to stderr")
        } else {
            format!("the Python process ended ({status}); the end of its stderr:\n{tail}")
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A no-op for a process that already exited and was waited for.
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn copy_stderr(mut stderr: impl Read, tail: &Mutex<VecDeque<u8>>) {
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stderr.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        // Python's warnings stay visible, as they would be in Python.
        let _ = io::stderr().write_all(&chunk[..n]);
        if let Ok(mut tail) = tail.lock() {
            tail.extend(&chunk[..n]);
            let excess = tail.len().saturating_sub(STDERR_TAIL);
            tail.drain(..excess);
        }
    }
}
