//! rhythm-bench: criterion latency benchmarks of the rhythm runtime against peers
//! (tract on the same network). Not built yet: see the speed issue.
