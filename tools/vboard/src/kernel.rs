//! The accelerator's C simulation as a child process, and the line protocol with it.
//!
//! The executable is the instance's HLS C++ compiled by g++ with
//! `hls/csim/kernel_shell.cpp`, which speaks this protocol (`make -C hls kernel
//! CONFIG_DIR=DIR`; `hls/csim/fibha_kernel.cpp` is its `main`). One line per message,
//! ASCII, fields separated by single spaces:
//!
//! | direction | line | when |
//! | --- | --- | --- |
//! | kernel -> board | `hello fibha-kernel 1` | once, at start-up (protocol version 1) |
//! | board -> kernel | `buf <name> <phys 0x hex> <size> <path>` | once per DMA buffer, after the hello |
//! | board -> kernel | `run <offset>=<value> ...` | at each accepted `ap_start`: every argument word, `0x` hex both |
//! | kernel -> board | `done status=<0x hex> cycles=<decimal> [id=<0x hex>]` | when the run ends |
//!
//! The kernel maps each buffer's file itself and translates device addresses to files; an
//! address range outside every buffer ends the run with status code `address_unmapped`,
//! never with a stray write. Closing its stdin asks it to exit. `id` is the plan hash the
//! kernel was compiled with; a kernel that omits it gets the descriptor's.
//!
//! Stopping is always by SIGKILL and a wait, so no process is left behind, even one that
//! hangs. The kernel's stderr is the board's (its diagnostics reach the console).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::layout::PlacedBuffer;

/// The first line a kernel prints.
pub const HELLO: &str = "hello fibha-kernel 1";

/// What a kernel reports at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// The `status` register's value.
    pub status: u32,
    /// The modelled cycles of the run.
    pub cycles: u64,
    /// The plan hash the kernel was built for, if it says.
    pub id: Option<u64>,
}

/// Something the kernel process did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A `done` line.
    Done(Done),
    /// A line that is not part of the protocol.
    Garbled(String),
    /// Its stdout closed: it exited or crashed.
    Exited,
}

/// A running kernel process.
#[derive(Debug)]
pub struct KernelProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<Event>,
    reader: Option<JoinHandle<()>>,
    executable: PathBuf,
}

impl KernelProcess {
    /// Starts `executable` with `args`, waits up to `hello_timeout` for its hello, then
    /// tells it the buffers.
    pub fn start(
        executable: &Path,
        args: &[String],
        buffers: &[PlacedBuffer],
        hello_timeout: Duration,
    ) -> Result<Self> {
        let fail = |problem: String| Error::Kernel {
            executable: executable.to_path_buf(),
            problem,
        };
        let mut child = Command::new(executable)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| fail(format!("cannot start: {e}")))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let (tx, events) = mpsc::channel();
        let (hello_tx, hello_rx) = mpsc::channel();
        let reader = stdout.map(|stdout| {
            std::thread::Builder::new()
                .name("vboard-kernel-out".into())
                .spawn(move || read_lines(stdout, &hello_tx, &tx))
        });
        let mut process = Self {
            child,
            stdin,
            events,
            reader: None,
            executable: executable.to_path_buf(),
        };
        process.reader = match reader {
            Some(Ok(handle)) => Some(handle),
            Some(Err(e)) => return Err(fail(format!("cannot start its reader thread: {e}"))),
            None => return Err(fail("has no stdout pipe".into())),
        };
        match hello_rx.recv_timeout(hello_timeout) {
            Ok(line) if line == HELLO => {}
            Ok(line) => {
                return Err(fail(format!(
                    "said {line:?} instead of {HELLO:?}: not a fibha C-simulation kernel, or another protocol version"
                )));
            }
            Err(RecvTimeoutError::Timeout) => {
                return Err(fail(format!(
                    "did not say {HELLO:?} within {hello_timeout:?}"
                )));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = process
                    .child
                    .wait()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|e| e.to_string());
                return Err(fail(format!("exited before saying hello ({status})")));
            }
        }
        for buffer in buffers {
            process.send(&format!(
                "buf {} {:#x} {} {}",
                buffer.name,
                buffer.phys_addr,
                buffer.size,
                buffer.dev_path.display()
            ))?;
        }
        Ok(process)
    }

    /// The process id (for `vboard/kernel.pid`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts a run with the argument words `(offset, value)`.
    pub fn run(&mut self, words: &[(u32, u32)]) -> Result<()> {
        self.send(&format_run(words))
    }

    /// The next event, waiting at most `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<Event> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Event::Exited),
        }
    }

    fn send(&mut self, line: &str) -> Result<()> {
        let executable = &self.executable;
        let stdin = self.stdin.as_mut().ok_or_else(|| Error::Kernel {
            executable: executable.clone(),
            problem: "its stdin is closed".into(),
        })?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| Error::Kernel {
                executable: executable.clone(),
                problem: format!("cannot send {:?}: {e}", first_word(line)),
            })
    }

    /// Kills the process, reaps it and joins its reader thread.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        drop(self.stdin.take());
        // SIGKILL, not a polite request: a hung simulation ignores requests, and the reset
        // this models (a fabric reconfiguration) is not polite either.
        if let Err(e) = self.child.kill() {
            tracing::debug!(error = %e, "kernel process already gone");
        }
        if let Err(e) = self.child.wait() {
            tracing::warn!(error = %e, pid = self.child.id(), "cannot reap the kernel process");
        }
        if let Some(reader) = self.reader.take() {
            let deadline = Instant::now() + Duration::from_secs(1);
            // The pipe closes with the process; a grandchild holding it would keep the
            // reader alive, so it is detached rather than waited on forever.
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }
}

impl Drop for KernelProcess {
    fn drop(&mut self) {
        if self.reader.is_some() || self.stdin.is_some() {
            self.shut_down();
        }
    }
}

fn read_lines(
    stdout: std::process::ChildStdout,
    hello: &mpsc::Sender<String>,
    events: &mpsc::Sender<Event>,
) {
    let mut lines = BufReader::new(stdout).lines();
    match lines.next() {
        Some(Ok(line)) => {
            if hello.send(line).is_err() {
                return;
            }
        }
        _ => return,
    }
    for line in lines {
        let Ok(line) = line else { break };
        let event = match parse_done(&line) {
            Some(done) => Event::Done(done),
            None => Event::Garbled(line),
        };
        if events.send(event).is_err() {
            return;
        }
    }
    let _ = events.send(Event::Exited);
}

/// `run 0x10=0x70000000 0x14=0x0 ...`.
pub fn format_run(words: &[(u32, u32)]) -> String {
    let mut line = String::from("run");
    for (offset, value) in words {
        line.push_str(&format!(" {offset:#x}={value:#x}"));
    }
    line
}

/// Parses `done status=0x.. cycles=N [id=0x..]`; `None` if the line is anything else.
pub fn parse_done(line: &str) -> Option<Done> {
    let mut words = line.split_ascii_whitespace();
    if words.next()? != "done" {
        return None;
    }
    let (mut status, mut cycles, mut id) = (None, None, None);
    for word in words {
        let (key, value) = word.split_once('=')?;
        match key {
            "status" if status.is_none() => {
                status = Some(parse_hex(value).and_then(|v| u32::try_from(v).ok())?)
            }
            "cycles" if cycles.is_none() => cycles = Some(value.parse().ok()?),
            "id" if id.is_none() => id = Some(parse_hex(value)?),
            _ => return None,
        }
    }
    Some(Done {
        status: status?,
        cycles: cycles?,
        id,
    })
}

fn parse_hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.strip_prefix("0x")?, 16).ok()
}

fn first_word(line: &str) -> &str {
    line.split(' ').next().unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_lines_parse_strictly() {
        assert_eq!(
            parse_done("done status=0x0 cycles=150528"),
            Some(Done {
                status: 0,
                cycles: 150_528,
                id: None
            })
        );
        assert_eq!(
            parse_done("done status=0xffff1101 cycles=0 id=0x0123456789abcdef"),
            Some(Done {
                status: 0xFFFF_1101,
                cycles: 0,
                id: Some(0x0123_4567_89ab_cdef)
            })
        );
        for bad in [
            "done",
            "done status=0 cycles=1",
            "done status=0x0",
            "done status=0x0 cycles=-1",
            "done status=0x100000000 cycles=1",
            "done status=0x0 cycles=1 extra=1",
            "done status=0x0 status=0x1 cycles=1",
            "hello fibha-kernel 1",
        ] {
            assert_eq!(parse_done(bad), None, "{bad}");
        }
    }

    #[test]
    fn run_lines_carry_every_word() {
        assert_eq!(
            format_run(&[(0x10, 0x7000_0000), (0x14, 0)]),
            "run 0x10=0x70000000 0x14=0x0"
        );
    }

    /// Starts a shell kernel running `body`. The shell reads the script rather than the
    /// script being executed: a file just written cannot be, while a process that another
    /// test thread forks meanwhile still holds it open for writing (ETXTBSY).
    fn start_script(dir: &Path, body: &str, timeout: Duration) -> Result<KernelProcess> {
        let path = dir.join("kernel.sh");
        std::fs::write(&path, format!("{body}\n")).unwrap();
        let script = path.to_string_lossy().into_owned();
        KernelProcess::start(Path::new("/bin/sh"), &[script], &[], timeout)
    }

    #[test]
    fn a_process_that_is_not_a_kernel_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let quick = Duration::from_secs(5);
        let err = start_script(dir.path(), "echo hi", quick).unwrap_err();
        assert!(err.to_string().contains("said \"hi\""), "{err}");
        let err = start_script(dir.path(), "exit 3", quick).unwrap_err();
        assert!(
            err.to_string().contains("exited before saying hello"),
            "{err}"
        );
        let err = start_script(dir.path(), "sleep 5", Duration::from_millis(50)).unwrap_err();
        assert!(err.to_string().contains("did not say"), "{err}");
        let err = KernelProcess::start(&dir.path().join("missing"), &[], &[], quick).unwrap_err();
        assert!(err.to_string().contains("cannot start"), "{err}");
    }

    #[test]
    fn a_shell_kernel_answers_runs_and_is_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let body = "echo 'hello fibha-kernel 1'\nwhile read -r cmd rest; do\n  [ \"$cmd\" = run ] && echo 'done status=0x0 cycles=7'\ndone";
        let mut kernel = start_script(dir.path(), body, Duration::from_secs(5)).unwrap();
        let pid = kernel.pid();
        kernel.run(&[(0x10, 1)]).unwrap();
        assert_eq!(
            kernel.next_event(Duration::from_secs(5)),
            Some(Event::Done(Done {
                status: 0,
                cycles: 7,
                id: None
            }))
        );
        kernel.stop();
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// A `done` line as the kernel shell prints it.
        fn line(done: &Done) -> String {
            let id = done.id.map(|id| format!(" id={id:#x}")).unwrap_or_default();
            format!("done status={:#x} cycles={}{id}", done.status, done.cycles)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(fibha_model::fuzz::cases()))]

            /// Every `done` line the kernel can print parses to what it says.
            #[test]
            fn done_lines_round_trip(status in any::<u32>(), cycles in any::<u64>(), id in any::<Option<u64>>()) {
                let done = Done { status, cycles, id };
                prop_assert_eq!(parse_done(&line(&done)), Some(done));
            }

            /// Any edit of a `done` line, or any line at all, parses to nothing or to a
            /// `done` whose own line says the same; never a panic.
            #[test]
            fn edited_and_arbitrary_lines_parse_exactly_or_not_at_all(
                status in any::<u32>(), cycles in any::<u64>(),
                edits in prop::collection::vec((any::<usize>(), 0x20u8..0x7f), 0..4),
                noise in "[ -~]{0,40}",
            ) {
                let mut bytes = line(&Done { status, cycles, id: Some(7) }).into_bytes();
                for (at, v) in edits {
                    let at = at % bytes.len();
                    bytes[at] = v;
                }
                for text in [String::from_utf8(bytes).unwrap(), noise] {
                    if let Some(done) = parse_done(&text) {
                        prop_assert_eq!(parse_done(&line(&done)), Some(done));
                    }
                }
            }
        }
    }
}
