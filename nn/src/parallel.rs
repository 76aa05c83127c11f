//! How many threads one layer call may use, and splitting per-sample loops over that many
//! scoped threads.
//!
//! Work is split into contiguous blocks of whole work units, each computed exactly as it
//! would be sequentially, so results do not depend on the thread count.

use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// 0 means "not set": use every available core.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Below this many elements a spawn costs more than it saves.
const MIN_PARALLEL_LEN: usize = 1 << 16;

/// Sets how many threads one layer call (a large matrix product, an im2col) may use; 1 keeps
/// every call on the calling thread. Set it to 1 when several workers already run networks
/// in parallel, as A3C does, so that they do not oversubscribe the cores.
pub fn set_threads(count: usize) {
    THREADS.store(count.max(1), Ordering::Relaxed);
}

/// The thread budget of one layer call: the value given to [`set_threads`], otherwise the
/// number of available cores.
pub fn threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => available_cores(),
        n => n,
    }
}

/// Looked up once: `available_parallelism` reads cgroup files on every call (tens of
/// microseconds), and [`threads`] is asked on every matrix product.
fn available_cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Splits `items` into contiguous blocks, one per thread, calls `f(indices, block)` on each
/// and returns the results in block order. Stays on the calling thread when `work` (a rough
/// element count) is too small to pay for a spawn.
pub(crate) fn map_blocks<T: Send, R: Send>(
    items: &mut [T],
    work: usize,
    f: impl Fn(Range<usize>, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let len = items.len();
    let workers = if work >= MIN_PARALLEL_LEN {
        threads().min(len)
    } else {
        1
    };
    if workers <= 1 {
        return vec![f(0..len, items)];
    }
    let per = len.div_ceil(workers);
    std::thread::scope(|scope| {
        let f = &f;
        let mut blocks = items.chunks_mut(per).enumerate();
        let (_, first) = blocks.next().expect("at least one item");
        let handles: Vec<_> = blocks
            .map(|(i, block)| {
                let range = i * per..i * per + block.len();
                scope.spawn(move || f(range, block))
            })
            .collect();
        // The calling thread takes the first block instead of idling.
        let mut results = vec![f(0..first.len(), first)];
        for handle in handles {
            results.push(
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        results
    })
}
