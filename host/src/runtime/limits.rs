//! Per-source budgets: what one call may spend and what one page may carry.

use std::time::Duration;

/// The bounds a source runs within. Fuel (CPU) and the deadline (wall clock)
/// are separate budgets: a guest spinning hits the first, a guest waiting on
/// a slow host call hits the second. The operator sets them (`[limits]`
/// for every source, `[sources.NAME.limits]` for one); a plugin's manifest
/// may only lower them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU budget per guest call, in wasmtime fuel units (about one per
    /// WebAssembly instruction).
    pub fuel: u64,
    /// Wall-clock budget per guest call.
    pub deadline: Duration,
    /// Largest linear memory the instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// Most entities one page may carry.
    pub max_entities_per_page: usize,
    /// Most bytes of entity JSON, location keys and cursor one page may carry.
    pub max_page_bytes: usize,
    /// Largest cursor, in bytes of JSON.
    pub max_cursor_bytes: usize,
    /// Largest entity, in bytes of JSON: a larger one is refused on its own
    /// (with its ref and size), and the rest of its page goes on.
    pub max_entity_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 20_000_000_000,
            deadline: Duration::from_secs(60),
            max_memory_bytes: 512 << 20,
            max_entities_per_page: 10_000,
            max_page_bytes: 64 << 20,
            max_cursor_bytes: 64 << 10,
            max_entity_bytes: 1 << 20,
        }
    }
}
