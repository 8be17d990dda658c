//! Static memory plan: every activation gets a fixed offset in one arena, computed at load, so
//! running the network allocates nothing. Values whose lifetimes do not overlap share memory.

use crate::model::{Model, OpKind};

/// Offsets are multiples of this many elements (64 bytes for int8, more for wider types), so
/// SIMD kernels can use aligned loads relative to the arena start.
pub(crate) const PLAN_ALIGN: usize = 64;

/// Arena offsets of every value, in elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Offset of each value (`None` for values not kept in the arena: the Softmax output).
    pub offsets: Vec<Option<usize>>,
    /// Arena length in elements.
    pub arena_len: usize,
    /// Sum of all value sizes, to show what sharing saved.
    pub unshared_len: usize,
}

impl MemoryPlan {
    /// Greedy first-fit by decreasing size over value lifetimes `[first write, last read]`.
    pub fn new(model: &Model) -> MemoryPlan {
        let n = model.values().len();
        let n_ops = model.ops().len();
        // Inputs live from "before op 0": index 0; op i writes at i + 1.
        let mut first = vec![0usize; n];
        let mut last = vec![0usize; n];
        let mut stored = vec![true; n];
        for (i, op) in model.ops().iter().enumerate() {
            let d = &op.desc;
            first[d.output as usize] = i + 1;
            last[d.output as usize] = last[d.output as usize].max(i + 1);
            for &inp in d.input_ids() {
                last[inp as usize] = last[inp as usize].max(i + 1);
            }
            if d.kind == OpKind::Softmax {
                stored[d.output as usize] = false;
            }
        }
        // Logits are read after the run.
        last[model.logits()] = n_ops + 1;
        let size = |v: usize| model.values()[v].shape.len().div_ceil(PLAN_ALIGN) * PLAN_ALIGN;
        let mut order: Vec<usize> = (0..n).filter(|&v| stored[v]).collect();
        order.sort_by_key(|&v| (std::cmp::Reverse(size(v)), v));
        let mut offsets = vec![None; n];
        let mut placed: Vec<(usize, usize, usize)> = Vec::new(); // (value, start, end)
        let mut arena_len = 0;
        for v in order {
            let len = size(v);
            let mut conflicts: Vec<(usize, usize)> = placed
                .iter()
                .filter(|&&(u, _, _)| first[u] <= last[v] && first[v] <= last[u])
                .map(|&(_, s, e)| (s, e))
                .collect();
            conflicts.sort_unstable();
            let mut at = 0;
            for (s, e) in conflicts {
                if at + len <= s {
                    break;
                }
                at = at.max(e);
            }
            placed.push((v, at, at + len));
            offsets[v] = Some(at);
            arena_len = arena_len.max(at + len);
        }
        let unshared_len = (0..n).filter(|&v| stored[v]).map(size).sum();
        MemoryPlan {
            offsets,
            arena_len,
            unshared_len,
        }
    }
}
