//! Running the per-value AES-GCM work of a walk on every core: the walk collects one job per
//! encrypted leaf (in document order), this module runs the jobs on scoped threads, and the
//! walk then applies them in document order again, so that the MAC, the IV stash and the
//! first error reported are exactly those of a one-thread walk. Small files never start a
//! thread; no thread pool outlives the call.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// Fewest jobs worth a second thread: starting one costs about as much as a few hundred
/// values' AES-GCM (a small Secret stays on the calling thread).
pub const MIN_PARALLEL_JOBS: usize = 512;

/// Jobs a thread takes at a time from the shared queue.
const CHUNK: usize = 128;

/// How many threads to use for `jobs` jobs: one below [`MIN_PARALLEL_JOBS`] or inside a
/// rayon worker (repo-wide commands already keep every core busy with whole files),
/// otherwise the available cores (which asks the OS, so only big files pay for it), at
/// most one per chunk.
pub fn threads_for(jobs: usize) -> usize {
    if jobs < MIN_PARALLEL_JOBS || rayon::current_thread_index().is_some() {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    cores.min(jobs.div_ceil(CHUNK)).max(1)
}

/// Call `f` on every item, on up to `threads` threads (the calling thread is one of them),
/// each with its own scratch buffer. Items are handed out in chunks from a shared queue;
/// which thread runs an item changes nothing, as `f` only touches the item. A thread that
/// cannot be started leaves its share to the others.
pub fn for_each<T, F>(items: &mut [T], threads: usize, f: F)
where
    T: Send,
    F: Fn(&mut T, &mut Vec<u8>) + Sync,
{
    let _: Result<(), std::convert::Infallible> = for_each_then(items, threads, f, |_| Ok(()));
}

/// [`for_each`], and `then` on every item in order, on the calling thread, as soon as the
/// item and every item before it are done: the in-order pass (the MAC) runs beside the
/// parallel work instead of after it. While the next item in order is not done, the
/// calling thread does a chunk of the work itself. The first error `then` returns is
/// returned; `then` sees no item after it, and work not yet started is abandoned.
pub fn for_each_then<T, E, F, G>(
    items: &mut [T],
    threads: usize,
    work: F,
    mut then: G,
) -> Result<(), E>
where
    T: Send,
    F: Fn(&mut T, &mut Vec<u8>) + Sync,
    G: FnMut(&mut T) -> Result<(), E>,
{
    if threads <= 1 || items.len() <= CHUNK {
        let mut scratch = Vec::new();
        for item in items.iter_mut() {
            work(item, &mut scratch);
        }
        return items.iter_mut().try_for_each(then);
    }
    let total = items.len().div_ceil(CHUNK);
    let queue = Mutex::new(items.chunks_mut(CHUNK).enumerate());
    let stop = AtomicBool::new(false);
    // A poisoned lock means a thread panicked; its panic propagates from the scope.
    let take = || match queue.lock() {
        Ok(mut q) => q.next(),
        Err(_) => None,
    };
    let (done, back) = mpsc::channel::<(usize, &mut [T])>();
    std::thread::scope(|s| {
        for _ in 1..threads {
            let (done, take, stop, work) = (done.clone(), &take, &stop, &work);
            let _ = std::thread::Builder::new()
                .name("seal-cipher".into())
                .spawn_scoped(s, move || {
                    let mut scratch = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let Some((i, chunk)) = take() else { break };
                        for item in chunk.iter_mut() {
                            work(item, &mut scratch);
                        }
                        if done.send((i, chunk)).is_err() {
                            break;
                        }
                    }
                });
        }
        drop(done);
        let mut scratch = Vec::new();
        let mut ready: Vec<Option<&mut [T]>> = (0..total).map(|_| None).collect();
        let mut next = 0;
        let outcome = 'apply: loop {
            while let Some(chunk) = ready.get_mut(next).and_then(Option::take) {
                for item in chunk.iter_mut() {
                    if let Err(e) = then(item) {
                        break 'apply Err(e);
                    }
                }
                next += 1;
            }
            if next == total {
                break Ok(());
            }
            let (i, chunk) = match back.try_recv() {
                Ok(got) => got,
                Err(_) => match take() {
                    Some((i, chunk)) => {
                        for item in chunk.iter_mut() {
                            work(item, &mut scratch);
                        }
                        (i, chunk)
                    }
                    None => match back.recv() {
                        Ok(got) => got,
                        // Every other thread is gone with chunks missing: one panicked,
                        // and the scope propagates its panic.
                        Err(_) => break Ok(()),
                    },
                },
            };
            if let Some(slot) = ready.get_mut(i) {
                *slot = Some(chunk);
            }
        };
        stop.store(true, Ordering::Relaxed);
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_visited_once_whatever_the_thread_count() {
        for threads in [1, 2, 3, 8] {
            for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK + 7] {
                let mut items: Vec<(usize, u32)> = (0..n).map(|i| (i, 0)).collect();
                for_each(&mut items, threads, |it, _| it.1 += 1);
                assert!(
                    items
                        .iter()
                        .enumerate()
                        .all(|(i, it)| it.0 == i && it.1 == 1),
                    "threads {threads}, n {n}"
                );
            }
        }
    }

    #[test]
    fn the_in_order_pass_sees_every_item_done_and_in_order() {
        for threads in [1, 2, 3, 8] {
            for n in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 10 * CHUNK + 7] {
                let mut items: Vec<(usize, u32)> = (0..n).map(|i| (i, 0)).collect();
                let mut seen = Vec::new();
                let r: Result<(), ()> = for_each_then(
                    &mut items,
                    threads,
                    |it, _| it.1 += 1,
                    |it| {
                        assert_eq!(it.1, 1, "threads {threads}, n {n}: item {} not done", it.0);
                        seen.push(it.0);
                        Ok(())
                    },
                );
                assert!(r.is_ok());
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "threads {threads}, n {n}");
                assert!(items.iter().all(|it| it.1 == 1), "threads {threads}, n {n}");
            }
        }
    }

    #[test]
    fn the_in_order_pass_stops_at_the_first_error() {
        for threads in [1, 2, 4] {
            let n = 10 * CHUNK + 7;
            let mut items: Vec<usize> = (0..n).collect();
            let mut seen = 0;
            let r = for_each_then(
                &mut items,
                threads,
                |_, _| {},
                |it| {
                    if *it == 3 * CHUNK + 5 {
                        return Err(*it);
                    }
                    seen += 1;
                    Ok(())
                },
            );
            assert_eq!(r, Err(3 * CHUNK + 5), "threads {threads}");
            assert_eq!(seen, 3 * CHUNK + 5, "threads {threads}");
        }
    }

    #[test]
    fn small_walks_stay_on_one_thread() {
        assert_eq!(threads_for(0), 1);
        assert_eq!(threads_for(MIN_PARALLEL_JOBS - 1), 1);
        assert!(threads_for(100_000) >= 1);
    }
}
