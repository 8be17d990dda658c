//! Work split over scoped threads, with worker failures and panics reported.

use anyhow::Result;
use indicatif::ProgressBar;

/// `predict(state, i)` for every index, split over `threads` threads, each with its own
/// `state` from `init`; results in the order of `indices`.
pub(crate) fn predict_parallel<S>(
    indices: &[usize],
    threads: usize,
    progress: &ProgressBar,
    init: impl Fn() -> Result<S> + Sync,
    predict: impl Fn(&mut S, usize) -> Result<u8> + Sync,
) -> Result<Vec<u8>> {
    let chunk = indices.len().div_ceil(threads.max(1)).max(1);
    let mut out = vec![0u8; indices.len()];
    let (init, predict) = (&init, &predict);
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = out
            .chunks_mut(chunk)
            .zip(indices.chunks(chunk))
            .map(|(part, idx)| {
                s.spawn(move || -> Result<()> {
                    let mut state = init()?;
                    for (o, &i) in part.iter_mut().zip(idx) {
                        *o = predict(&mut state, i)?;
                        progress.inc(1);
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
        }
        Ok(())
    })?;
    Ok(out)
}

/// `f(item)` for every item, split over `threads` scoped threads; results in the order of
/// `items`. A worker that panics is an error, never silently fewer results.
pub(crate) fn map_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    let f = &f;
    std::thread::scope(|s| -> Result<Vec<R>> {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Result<Vec<R>>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            out.extend(h.join().map_err(|_| anyhow::anyhow!("worker panicked"))??);
        }
        Ok(out)
    })
}
