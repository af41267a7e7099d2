//! Reading a big YAML file on two threads: the fast producer ([`super::fast`]) makes the
//! events on a second thread and hands them over in batches while the calling thread
//! composes them, so the two halves of reading overlap. The producer's verdict decides:
//! when the input turns out to be outside the fast subset (even after batches went), what
//! was composed is to be thrown away. Nothing here knows what composing is.

use libyaml_safer::{Error, Event};

/// Inputs from this size on are worth a second thread (below it, starting the thread
/// costs more than the overlap gains).
pub const MIN_BYTES: usize = 256 << 10;

/// Events per batch handed from the producer thread to the consumer.
const BATCH: usize = 2048;

/// How [`run`] ended.
pub enum Pipelined<R> {
    /// The input is in the fast subset: what the consumer gave.
    Done(R),
    /// The input is outside the fast subset: the consumer's result is to be thrown away.
    Outside,
    /// No thread could be started.
    NoThread,
}

/// Whether a second thread may read: more than one core, and not inside a rayon worker
/// (repo-wide commands keep every core busy with whole files already).
pub fn threads_available() -> bool {
    rayon::current_thread_index().is_none()
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

/// The fast producer's events for `src` on a second thread, given to `consume` on this
/// one as they come. Whatever `consume` does (it may stop early, on an error), the
/// producer's verdict is waited for before this returns.
pub fn run<R>(
    src: &str,
    consume: impl FnOnce(&mut dyn Iterator<Item = Result<Event, Error>>) -> R,
) -> Pipelined<R> {
    std::thread::scope(|scope| {
        // Some(batch), or None once the input turns out to be outside the fast subset.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Option<Vec<Event>>>(4);
        let producer = std::thread::Builder::new()
            // The producer recurses once per nesting level (the reader's indent bound
            // keeps that under a few hundred).
            .stack_size(16 << 20)
            .spawn_scoped(scope, move || {
                let inside =
                    super::fast::events_batched(src, BATCH, &mut |b| tx.send(Some(b)).is_ok());
                if !inside {
                    let _ = tx.send(None);
                }
            });
        if producer.is_err() {
            return Pipelined::NoThread;
        }
        let outside = std::cell::Cell::new(false);
        let mut events = rx
            .iter()
            .map_while(|m| {
                if m.is_none() {
                    outside.set(true);
                }
                m
            })
            .flatten()
            .map(Ok);
        let result = consume(&mut events);
        // The rest, to the producer's verdict (a consumer that stopped on an error from
        // events outside the subset must not have the last word).
        for m in rx.iter() {
            if m.is_none() {
                outside.set(true);
            }
        }
        if outside.get() {
            Pipelined::Outside
        } else {
            Pipelined::Done(result)
        }
    })
}
