//! The epoch ticker: a thread that advances the engine's epoch every
//! [`EPOCH_TICK`], so a call's wall-clock deadline interrupts a busy guest
//! and a long guest call yields to the async executor.

use std::thread;
use std::time::Duration;

use wasmtime::EngineWeak;

/// How often the epoch advances: the granularity of wall-clock deadlines and
/// of a busy guest's yields to the async executor.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Advance the engine's epoch from a dedicated OS thread. A tokio task would
/// be starved by the very guest it must interrupt; the thread holds only a
/// weak reference, so it ends when the engine is dropped.
pub(super) fn start_epoch_ticker(engine: EngineWeak) -> std::io::Result<()> {
    thread::Builder::new()
        .name("weir-epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
}
