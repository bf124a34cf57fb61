//! Randomness a failing test can replay: a small deterministic generator
//! (xorshift) seeded from the clock or `WEIR_TEST_SEED`, its seed printed.

/// The generator; `WEIR_TEST_SEED=N` makes a run take the sequence of the
/// run that printed `N` (its timing still varies).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn from_clock(label: &str) -> Rng {
        let seed = std::env::var("WEIR_TEST_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{label}: WEIR_TEST_SEED={seed}");
        Rng(seed)
    }

    /// In `low..=high`.
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        low + self.0 % (high - low + 1)
    }
}
