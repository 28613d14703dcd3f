//! Model inputs made ahead of the pipeline thread: image decoding and resizing on a pool of
//! worker threads.
//!
//! Decoding and resizing a photo takes milliseconds (3.7-10 ms per photo on an x86 core,
//! several times that on a Cortex-A53), longer than the accelerator's run, so one thread
//! cannot keep the accelerator busy. With `W` workers, item `k` is made by worker `k mod W`.
//! Each worker owns [`DEPTH`] input buffers, allocated before the first item: it takes a
//! free one from its `free` queue, fills it, and puts it (or the item's error) in its
//! `ready` queue; the pipeline thread takes item `k` from worker `k mod W`'s `ready` queue,
//! so items reach the sink in input order with no reordering buffer, copies the input into
//! the CPU engine and hands the buffer back through `free`. Both queues of a worker are
//! `heapless::spsc` queues: one producer, one consumer, fixed capacity, lock-free, and they
//! move the buffers (a `Vec` is three words) without allocating. A side that finds its
//! queue empty parks; the other side unparks it after each enqueue (a park with a timeout,
//! so a wake-up can never be lost for good).
//!
//! A worker stays at most [`DEPTH`] items ahead of the pipeline thread: memory is
//! `W x DEPTH` inputs, whatever the number of items.
//!
//! Stopping: workers end when the run's stop flag is set (they finish the decode under way)
//! or when the pipeline thread is done (its last item, an error, a stop); the pipeline
//! thread then joins them before `run` returns, so no thread outlives a run. A worker that
//! panicked (a decoder bug) ends the run and its panic is raised on the pipeline thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use heapless::spsc::{Consumer, Producer, Queue};

use crate::pipeline::{FillError, Source};

/// Input buffers per worker: the one it fills and one waiting for the pipeline thread.
pub const DEPTH: usize = 2;

/// Queue slots: a `heapless::spsc::Queue<T, N>` holds `N - 1` items, and each queue must
/// hold every buffer its worker owns, so an enqueue never finds it full.
const SLOTS: usize = DEPTH + 1;

/// How long a side waits parked before it looks at its queue and the flags again.
const PARK: Duration = Duration::from_millis(1);

/// A source whose items can be made concurrently, from several threads.
pub trait ParallelSource: Sync {
    /// Writes item `item`'s model input into `input` (as [`Source::fill`]).
    fn fill_shared(&self, item: usize, input: &mut [u8]) -> Result<(), FillError>;
}

/// One item's model input, made inline or by a worker.
pub(crate) struct Fed {
    /// The source item.
    pub item: usize,
    /// Whether the input could be made; on an error the item is skipped.
    pub result: Result<(), FillError>,
    /// The input (the graph input's bytes).
    pub buffer: Vec<u8>,
    /// When making it began.
    pub started: Instant,
    /// How long making it took (decode and resize, or a copy).
    pub fill: Duration,
    /// How long the pipeline thread waited for it (zero when made inline).
    pub waited: Duration,
}

/// Where the pipeline thread gets its inputs from.
pub(crate) trait Feed {
    /// The next item's input; `None` when the source is exhausted or a stop was asked for.
    fn next(&mut self, stop: &AtomicBool) -> Option<Fed>;

    /// Returns an item's buffer once its input has been copied out.
    fn give_back(&mut self, fed: Fed);

    /// How many worker threads make the inputs (0: the pipeline thread itself).
    fn workers(&self) -> u16;
}

/// Inputs made on the pipeline thread, into one buffer.
pub(crate) struct Inline<'a> {
    source: &'a mut dyn Source,
    next: usize,
    buffer: &'a mut Vec<u8>,
}

impl<'a> Inline<'a> {
    /// Items of `source` made into `buffer` (resized to `input_len` if an earlier run lost
    /// it on an error).
    pub fn new(source: &'a mut dyn Source, buffer: &'a mut Vec<u8>, input_len: usize) -> Self {
        buffer.resize(input_len, 0);
        Inline {
            source,
            next: 0,
            buffer,
        }
    }
}

impl Feed for Inline<'_> {
    fn next(&mut self, stop: &AtomicBool) -> Option<Fed> {
        if self.next >= self.source.len() || stop.load(Ordering::Relaxed) {
            return None;
        }
        let item = self.next;
        self.next += 1;
        // Moving the buffer out and back (give_back) allocates nothing.
        let mut buffer = std::mem::take(self.buffer);
        let started = Instant::now();
        let result = {
            let _span = tracing::debug_span!("make_input", item).entered();
            self.source.fill(item, &mut buffer)
        };
        Some(Fed {
            item,
            result,
            buffer,
            started,
            fill: started.elapsed(),
            waited: Duration::ZERO,
        })
    }

    fn give_back(&mut self, fed: Fed) {
        *self.buffer = fed.buffer;
    }

    fn workers(&self) -> u16 {
        0
    }
}

/// A made input in a worker's `ready` queue.
struct Ready {
    item: usize,
    result: Result<(), FillError>,
    buffer: Vec<u8>,
    started: Instant,
    fill: Duration,
}

/// The pipeline thread's ends of one worker's queues.
struct WorkerEnds<'q> {
    ready: Consumer<'q, Ready>,
    free: Producer<'q, Vec<u8>>,
    thread: Thread,
}

/// Inputs made by worker threads.
struct Prefetched<'q, 'f> {
    workers: Vec<WorkerEnds<'q>>,
    finished: &'f [AtomicBool],
    next: usize,
    len: usize,
}

impl Feed for Prefetched<'_, '_> {
    fn next(&mut self, stop: &AtomicBool) -> Option<Fed> {
        if self.next >= self.len || stop.load(Ordering::Relaxed) {
            return None;
        }
        let w = self.next % self.workers.len();
        let asked = Instant::now();
        let ends = &mut self.workers[w];
        let ready = loop {
            if let Some(ready) = ends.ready.dequeue() {
                break ready;
            }
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            if self.finished[w].load(Ordering::Acquire) {
                // It may have enqueued just before it ended; otherwise it panicked and the
                // scope raises that panic when the run returns.
                match ends.ready.dequeue() {
                    Some(ready) => break ready,
                    None => return None,
                }
            }
            thread::park_timeout(PARK);
        };
        debug_assert_eq!(ready.item, self.next, "worker {w} is out of order");
        self.next += 1;
        Some(Fed {
            item: ready.item,
            result: ready.result,
            buffer: ready.buffer,
            started: ready.started,
            fill: ready.fill,
            waited: asked.elapsed(),
        })
    }

    fn give_back(&mut self, fed: Fed) {
        let w = fed.item % self.workers.len();
        let ends = &mut self.workers[w];
        // The queue has room for every buffer the worker owns: it cannot be full.
        let _room = ends.free.enqueue(fed.buffer);
        ends.thread.unpark();
    }

    fn workers(&self) -> u16 {
        u16::try_from(self.workers.len()).unwrap_or(u16::MAX)
    }
}

/// Sets a worker's finished flag however it ends, a panic included.
struct Finished<'a>(&'a AtomicBool, &'a Thread);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
        self.1.unpark();
    }
}

/// What one worker needs.
struct Worker<'a, 'q> {
    source: &'a dyn ParallelSource,
    first: usize,
    step: usize,
    len: usize,
    ready: Producer<'q, Ready>,
    free: Consumer<'q, Vec<u8>>,
    stop: &'a AtomicBool,
    quit: &'a AtomicBool,
    pipeline: &'a Thread,
}

impl Worker<'_, '_> {
    fn run(mut self, finished: &AtomicBool) {
        let _finished = Finished(finished, self.pipeline);
        for item in (self.first..self.len).step_by(self.step) {
            let mut buffer = loop {
                if self.quit.load(Ordering::Acquire) || self.stop.load(Ordering::Relaxed) {
                    return;
                }
                if let Some(buffer) = self.free.dequeue() {
                    break buffer;
                }
                thread::park_timeout(PARK);
            };
            let started = Instant::now();
            let result = {
                let _span = tracing::debug_span!("make_input", item).entered();
                self.source.fill_shared(item, &mut buffer)
            };
            let ready = Ready {
                item,
                result,
                buffer,
                started,
                fill: started.elapsed(),
            };
            // Room for every buffer this worker owns: it cannot be full.
            if self.ready.enqueue(ready).is_err() {
                return;
            }
            self.pipeline.unpark();
        }
    }
}

/// Runs `body` with a feed of `len` items of `source` made by `workers` threads into
/// buffers of `input_len` bytes; the threads are joined before it returns. Fails only when
/// a thread cannot be started.
pub(crate) fn with_workers<R>(
    source: &dyn ParallelSource,
    len: usize,
    workers: usize,
    input_len: usize,
    stop: &AtomicBool,
    body: impl FnOnce(&mut dyn Feed) -> R,
) -> std::io::Result<R> {
    let workers = workers.clamp(1, len.max(1));
    // Every queue and buffer exists before the first item.
    let mut ready_queues: Vec<Queue<Ready, SLOTS>> = (0..workers).map(|_| Queue::new()).collect();
    let mut free_queues: Vec<Queue<Vec<u8>, SLOTS>> = (0..workers).map(|_| Queue::new()).collect();
    let finished: Vec<AtomicBool> = (0..workers).map(|_| AtomicBool::new(false)).collect();
    let quit = AtomicBool::new(false);
    let pipeline = thread::current();
    thread::scope(|scope| {
        let mut ends = Vec::with_capacity(workers);
        let queues = ready_queues.iter_mut().zip(free_queues.iter_mut());
        for (w, (ready, free)) in queues.enumerate() {
            let (ready_tx, ready_rx) = ready.split();
            let (mut free_tx, free_rx) = free.split();
            for _ in 0..DEPTH {
                let _room = free_tx.enqueue(vec![0u8; input_len]);
            }
            let worker = Worker {
                source,
                first: w,
                step: workers,
                len,
                ready: ready_tx,
                free: free_rx,
                stop,
                quit: &quit,
                pipeline: &pipeline,
            };
            let done = &finished[w];
            let spawned = thread::Builder::new()
                .name(format!("fibha-input-{w}"))
                .spawn_scoped(scope, move || worker.run(done));
            let handle = match spawned {
                Ok(handle) => handle,
                Err(err) => {
                    quit.store(true, Ordering::Release);
                    ends.iter().for_each(|e: &WorkerEnds| e.thread.unpark());
                    return Err(err);
                }
            };
            ends.push(WorkerEnds {
                ready: ready_rx,
                free: free_tx,
                thread: handle.thread().clone(),
            });
        }
        let mut feed = Prefetched {
            workers: ends,
            finished: &finished,
            next: 0,
            len,
        };
        let result = body(&mut feed);
        quit.store(true, Ordering::Release);
        for ends in &feed.workers {
            ends.thread.unpark();
        }
        Ok(result)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Item `k` is `k` in every byte; item `bad` fails; every fill takes `delay`.
    struct Numbers {
        len: usize,
        bad: Option<usize>,
        delay: Duration,
    }

    impl ParallelSource for Numbers {
        fn fill_shared(&self, item: usize, input: &mut [u8]) -> Result<(), FillError> {
            thread::sleep(self.delay);
            if Some(item) == self.bad {
                return Err(format!("item {item} is corrupt").into());
            }
            input.fill(item as u8);
            Ok(())
        }
    }

    fn drain(
        source: &Numbers,
        workers: usize,
        stop: &AtomicBool,
    ) -> Vec<(usize, Result<u8, String>)> {
        with_workers(source, source.len, workers, 4, stop, |feed| {
            let mut seen = Vec::new();
            while let Some(fed) = feed.next(stop) {
                let value = match &fed.result {
                    Ok(()) => Ok(fed.buffer[0]),
                    Err(e) => Err(e.to_string()),
                };
                seen.push((fed.item, value));
                feed.give_back(fed);
            }
            seen
        })
        .unwrap()
    }

    #[test]
    fn items_come_out_in_input_order_with_errors_in_place() {
        let never = AtomicBool::new(false);
        for workers in [1, 2, 3, 8] {
            let source = Numbers {
                len: 23,
                bad: Some(7),
                delay: Duration::from_micros(200),
            };
            let seen = drain(&source, workers, &never);
            assert_eq!(seen.len(), 23, "{workers} workers");
            for (k, (item, value)) in seen.iter().enumerate() {
                assert_eq!(*item, k);
                if k == 7 {
                    assert_eq!(value.as_ref().unwrap_err(), "item 7 is corrupt");
                } else {
                    assert_eq!(*value, Ok(k as u8));
                }
            }
        }
    }

    #[test]
    fn a_stop_ends_the_feed_and_every_worker() {
        let stop = AtomicBool::new(false);
        let source = Numbers {
            len: 1000,
            bad: None,
            delay: Duration::from_millis(1),
        };
        let started = Instant::now();
        let seen = with_workers(&source, source.len, 2, 4, &stop, |feed| {
            let mut seen = 0;
            while let Some(fed) = feed.next(&stop) {
                seen += 1;
                feed.give_back(fed);
                if seen == 5 {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            seen
        })
        .unwrap();
        // The scope joined both workers: they stopped instead of decoding all 1000 items.
        assert_eq!(seen, 5);
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn leaving_early_quits_workers_that_wait_for_buffers() {
        let never = AtomicBool::new(false);
        let source = Numbers {
            len: 100,
            bad: None,
            delay: Duration::ZERO,
        };
        // The body takes one item and never gives its buffer back; the workers fill their
        // other buffers, wait for free ones, and must still end when the body returns.
        let first = with_workers(&source, source.len, 3, 4, &never, |feed| {
            feed.next(&never).map(|fed| fed.item)
        })
        .unwrap();
        assert_eq!(first, Some(0));
    }

    #[test]
    fn a_worker_queue_is_full_at_its_depth_and_empty_after() {
        let mut queue: Queue<Vec<u8>, SLOTS> = Queue::new();
        let (mut tx, mut rx) = queue.split();
        assert_eq!(rx.dequeue(), None);
        for k in 0..DEPTH {
            tx.enqueue(vec![k as u8]).unwrap();
        }
        // Full at DEPTH: the item comes back instead of blocking.
        assert_eq!(tx.enqueue(vec![9]), Err(vec![9]));
        for k in 0..DEPTH {
            assert_eq!(rx.dequeue(), Some(vec![k as u8]));
        }
        assert_eq!(rx.dequeue(), None);
    }

    #[test]
    #[should_panic(expected = "a scoped thread panicked")]
    fn a_worker_panic_reaches_the_pipeline_thread() {
        struct Panics;
        impl ParallelSource for Panics {
            fn fill_shared(&self, item: usize, _input: &mut [u8]) -> Result<(), FillError> {
                if item == 2 {
                    panic!("decoder bug");
                }
                Ok(())
            }
        }
        let never = AtomicBool::new(false);
        let _ = with_workers(&Panics, 10, 2, 4, &never, |feed| {
            while let Some(fed) = feed.next(&never) {
                feed.give_back(fed);
            }
        });
    }
}
