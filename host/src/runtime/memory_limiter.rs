//! [`MemoryLimiter`]: refuses an instance's growth past the source's limits
//! and remembers a refusal, so the failure is reported as a memory limit
//! rather than a bare trap.

use wasmtime::ResourceLimiter;

/// Table elements any one instance may grow to; generous for real guests,
/// small enough that a runaway table cannot exhaust the host.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// Refuses linear memory past the source's limit and remembers that it did,
/// so the failure is reported as a memory limit rather than a bare trap.
pub(crate) struct MemoryLimiter {
    max_memory_bytes: usize,
    /// The size a refused growth asked for.
    pub refused_growth: Option<usize>,
    /// The largest linear memory the instance has grown to, in bytes.
    pub peak_bytes: usize,
}

impl MemoryLimiter {
    pub(super) fn new(max_memory_bytes: usize) -> Self {
        MemoryLimiter {
            max_memory_bytes,
            refused_growth: None,
            peak_bytes: 0,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            self.refused_growth = Some(desired);
            // An error traps at the `memory.grow` itself, which is clearer
            // than the allocator abort a refused growth would cause later.
            wasmtime::bail!(
                "memory limit: growing linear memory to {desired} bytes exceeds the limit of {} bytes",
                self.max_memory_bytes
            );
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
