//! How many cases the property tests of fibha's parsers of outside input run (bundles,
//! `.tflite` files, `.npy` files, label files, manifests, plans, the virtual board's instance
//! descriptor and line protocol): one number for the whole workspace.

/// Cases per property test: `FIBHA_FUZZ_CASES`, else 1,000 (enough to cover every field's
/// edits, fast enough for every `cargo test`; `scripts/fuzz` runs 100,000).
pub fn cases() -> u32 {
    std::env::var("FIBHA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1000)
}
