//! Where the server's log lines go: one byte buffer that requests append whole lines
//! to, and one thread that takes the buffer and writes it out.
//!
//! A line per admission must not cost a system call on the request path, nor an
//! allocation: appending is a copy under a lock that the writer thread only holds
//! to swap two buffers, and the writer, once woken, pauses [`LogSink::BATCH_PAUSE`] between
//! writes, so a busy server wakes it and writes about a hundred times a second
//! instead of once per line (each wake-up was a futex call and a context switch on
//! the server's one core). Lines are never dropped — when the writer falls behind by
//! [`LogSink::MAX_PENDING`] bytes, appending waits for it (requests slow down
//! rather than lines vanish) — and [`LogSink::flush`] and [`LogSink::close`] return
//! only once everything appended before them is written, so the lines of a drain are
//! out before the process exits.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// A handle on the buffer; clones share it. The writer thread stops, having written
/// everything, when [`close`](Self::close) is called.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when there is something to write, or the sink closes.
    work: Condvar,
    /// Signalled when the writer has taken the buffer (room) or written it (flush).
    progress: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    /// Lines appended and not yet taken by the writer.
    pending: Vec<u8>,
    /// Bytes appended since the start.
    appended: u64,
    /// Bytes written out since the start.
    written: u64,
    /// Whether the writer waits for lines (and must be woken for the next one).
    writer_waiting: bool,
    /// Callers of [`LogSink::flush`] waiting: the writer skips its pause for them.
    flushing: usize,
    closed: bool,
}

impl LogSink {
    /// Bytes appended but not yet written past which appending waits.
    pub const MAX_PENDING: usize = 1 << 20;

    /// How long the writer lets lines gather after a write: the longest a line
    /// waits in the buffer while the server is busy.
    pub const BATCH_PAUSE: Duration = Duration::from_millis(10);

    /// A sink writing to `out` from a thread named `thread_name`.
    pub fn spawn(out: impl Write + Send + 'static, thread_name: &str) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            progress: Condvar::new(),
            thread: Mutex::new(None),
        });
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name(thread_name.to_owned())
            .spawn(move || writer.write_loop(out))?;
        *lock(&shared.thread) = Some(thread);
        Ok(LogSink { shared })
    }

    /// Appends what `line` writes into the buffer; it must write whole lines. Waits
    /// while the writer is [`MAX_PENDING`](Self::MAX_PENDING) bytes behind; after
    /// [`close`](Self::close), drops the line.
    pub fn append(&self, line: impl FnOnce(&mut Vec<u8>)) {
        let mut state = lock(&self.shared.state);
        while state.pending.len() >= Self::MAX_PENDING && !state.closed {
            state = wait(&self.shared.progress, state);
        }
        if state.closed {
            return;
        }
        let before = state.pending.len();
        line(&mut state.pending);
        state.appended += (state.pending.len() - before) as u64;
        // Only a waiting writer is woken: while lines keep coming it is pausing
        // between batches, and a request pays no wake-up (a system call) at all.
        if state.writer_waiting && state.pending.len() > before {
            state.writer_waiting = false;
            self.shared.work.notify_one();
        }
    }

    /// Returns once every line appended before the call has been written out.
    pub fn flush(&self) {
        let mut state = lock(&self.shared.state);
        let target = state.appended;
        state.flushing += 1;
        self.shared.work.notify_one();
        while state.written < target && !state.closed {
            state = wait(&self.shared.progress, state);
        }
        state.flushing -= 1;
    }

    /// Writes what is left and stops the writer thread. Later lines are dropped.
    pub fn close(&self) {
        lock(&self.shared.state).closed = true;
        self.shared.work.notify_one();
        if let Some(thread) = lock(&self.shared.thread).take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    /// The writer thread: take the buffer, write it, pause, until closed and empty.
    fn write_loop(&self, mut out: impl Write) {
        let mut writing = Vec::new();
        loop {
            let closed = self.take(&mut writing);
            // A log that cannot be written (stderr closed) has nowhere to report to.
            let _ = out.write_all(&writing).and_then(|()| out.flush());
            lock(&self.state).written += writing.len() as u64;
            self.progress.notify_all();
            writing.clear();
            if closed {
                return;
            }
            self.pause();
        }
    }

    /// Waits for lines, then swaps them into `writing`; whether the sink is closed
    /// (then they are the last).
    fn take(&self, writing: &mut Vec<u8>) -> bool {
        let mut state = lock(&self.state);
        while state.pending.is_empty() && !state.closed {
            state.writer_waiting = true;
            state = wait(&self.work, state);
        }
        state.writer_waiting = false;
        std::mem::swap(&mut state.pending, writing);
        self.progress.notify_all();
        state.closed
    }

    /// Lets lines gather for [`LogSink::BATCH_PAUSE`] after a write, so that a busy server
    /// writes a batch per pause rather than a line per wake-up; a flush or close
    /// cuts it short.
    fn pause(&self) {
        let state = lock(&self.state);
        if state.flushing == 0 && !state.closed {
            let _ = self.work.wait_timeout(state, LogSink::BATCH_PAUSE);
        }
    }
}

/// Locks `mutex`, also after a panic elsewhere: a byte buffer has no invariant a
/// panic could break.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// An [`io::Write`](Write) for `tracing`'s formatter: buffers one event and
/// appends it whole when dropped.
pub struct EventWriter {
    sink: LogSink,
    line: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.sink.append(|pending| pending.extend_from_slice(&line));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            sink: self.clone(),
            line: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read back, optionally slow.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(std::time::Duration::from_micros(50));
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_once_in_order_by_flush_and_by_close() {
        let out = Shared::default();
        let sink = LogSink::spawn(out.clone(), "test-log").unwrap();
        for i in 0..2000 {
            sink.append(|b| writeln!(b, "line {i}").unwrap());
        }
        sink.flush();
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let expected: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(written, expected);
        sink.append(|b| b.extend_from_slice(b"last\n"));
        sink.close();
        assert!(out.0.lock().unwrap().ends_with(b"line 1999\nlast\n"));
    }

    #[test]
    fn lines_appended_from_many_threads_stay_whole() {
        let out = Shared::default();
        let sink = LogSink::spawn(out.clone(), "test-log").unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        sink.append(|b| writeln!(b, "{t}:{i}:{}", "x".repeat(100)).unwrap());
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        sink.close();
        let written = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(written.lines().count(), 2000);
        assert!(written.lines().all(|l| l.ends_with(&"x".repeat(100))));
    }
}
