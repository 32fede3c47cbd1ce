//! Splitting independent work over the machine's cores, for compiling large pattern sets.

/// Up to `max` threads for `items` items, one per `min_per_thread` of them, at least one,
/// never more than the machine's cores.
pub fn threads_for(items: usize, min_per_thread: usize, max: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(max)
        .min(items / min_per_thread.max(1))
        .max(1)
}

/// `f` over `threads` contiguous parts of `items`, the results concatenated in order. The
/// calling thread takes the first part itself (one thread: all of `items`); a panic in a part
/// is resumed in the caller.
pub fn map_parts<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() < 2 {
        return f(items);
    }
    let f = &f;
    let mut parts = items.chunks(items.len().div_ceil(threads));
    let first = parts.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts.map(|part| scope.spawn(move || f(part))).collect();
        let mut results = f(first);
        for handle in handles {
            let part = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            results.extend(part);
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_keep_the_order() {
        let items: Vec<u32> = (0..1000).collect();
        for threads in [1, 2, 3, 7] {
            let doubled = map_parts(&items, threads, |part| part.iter().map(|x| x * 2).collect());
            assert_eq!(doubled, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        assert!(map_parts(&[] as &[u32], 4, |p| p.to_vec()).is_empty());
        assert_eq!(threads_for(10, 64, 4), 1);
    }
}
