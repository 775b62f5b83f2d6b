//! The one source of randomness a policy may use: SplitMix64 from a seed the host passes.
//!
//! Policies are pure functions, so "random" choices (EP's random order among zones of equal
//! priority, SPEC §6) come from this generator, seeded by the caller. The algorithm is fixed and
//! specified in `plugins/ABI.md` so that a plugin in any language reproduces the native results
//! bit for bit.

/// SplitMix64 (Steele, Lea, Flood 2014), the exact variant used by Java's `SplittableRandom`
/// and by `splitmix64.c` from the xoshiro authors. All arithmetic wraps modulo 2^64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose first output is derived from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64-bit output.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_outputs() {
        // Reference values of splitmix64.c (https://prng.di.unimi.it/splitmix64.c) for seed 0
        // and seed 1234567.
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(g.next(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(g.next(), 0x06C4_5D18_8009_454F);
        let mut g = SplitMix64::new(1_234_567);
        assert_eq!(g.next(), 6_457_827_717_110_365_317);
        assert_eq!(g.next(), 3_203_168_211_198_807_973);
    }
}
