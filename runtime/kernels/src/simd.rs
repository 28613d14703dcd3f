//! Runtime selection of the widest vector instructions the CPU has.
//!
//! The kernels are plain Rust that LLVM auto-vectorizes, plus explicit inner loops where
//! LLVM does not find the instructions itself (the matrix product's `vpmaddwd`, the
//! requantization's 64-bit products). Compiled for the baseline target alone, x86-64 code
//! would use only SSE2; [`dispatch`] instead runs a kernel inside a copy compiled with
//! AVX-512 (x86-64-v4) or AVX2 (x86-64-v3), the best the CPU has, through `pulp`, whose
//! safe API hides the `target_feature` call and hands out an [`Isa`] token proving the
//! features are present. Kernels without an AVX-512 form run their AVX2 form under
//! [`Isa::V4`] (a V4 token derefs to a V3 one). A kernel's hot path must be inlined into that copy to
//! benefit, so [`Vectorized::run`] implementations and everything they call on the hot
//! path are `#[inline(always)]`. On AArch64 NEON is baseline and the dispatch is a call.

/// The instruction set a dispatched kernel runs with.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Isa {
    /// x86-64 with AVX-512 F/BW/CD/DQ/VL (x86-64-v4).
    #[cfg(target_arch = "x86_64")]
    V4(pulp::x86::V4),
    /// x86-64 with AVX2 and FMA (x86-64-v3).
    #[cfg(target_arch = "x86_64")]
    V3(pulp::x86::V3),
    /// AArch64 with NEON (Advanced SIMD), ARMv8.0's.
    #[cfg(target_arch = "aarch64")]
    Neon(pulp::core_arch::aarch64::Neon),
    /// Whatever the compilation target guarantees.
    Baseline,
}

/// A computation to run compiled for the best instruction set available.
pub(crate) trait Vectorized {
    /// What the computation returns.
    type Output;
    /// Runs the computation; implementations must be `#[inline(always)]`.
    fn run(self, isa: Isa) -> Self::Output;
}

/// Adapts a [`Vectorized`] to pulp's `vectorize`.
#[cfg(target_arch = "x86_64")]
struct WithIsa<V>(V, Isa);

#[cfg(target_arch = "x86_64")]
impl<V: Vectorized> pulp::NullaryFnOnce for WithIsa<V> {
    type Output = V::Output;

    #[inline(always)]
    fn call(self) -> Self::Output {
        self.0.run(self.1)
    }
}

/// Runs `v` compiled for the best instruction set available at run time.
#[inline(always)]
pub(crate) fn dispatch<V: Vectorized>(v: V) -> V::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(v4) = pulp::x86::V4::try_new() {
        return v4.vectorize(WithIsa(v, Isa::V4(v4)));
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(v3) = pulp::x86::V3::try_new() {
        return v3.vectorize(WithIsa(v, Isa::V3(v3)));
    }
    #[cfg(target_arch = "aarch64")]
    if let Some(neon) = pulp::core_arch::aarch64::Neon::try_new() {
        return v.run(Isa::Neon(neon));
    }
    v.run(Isa::Baseline)
}

/// Every instruction set this machine can run, for tests that compare the paths.
#[cfg(test)]
pub(crate) fn available() -> Vec<Isa> {
    let baseline = std::iter::once(Isa::Baseline);
    #[cfg(target_arch = "x86_64")]
    let baseline = baseline
        .chain(pulp::x86::V3::try_new().map(Isa::V3))
        .chain(pulp::x86::V4::try_new().map(Isa::V4));
    #[cfg(target_arch = "aarch64")]
    let baseline = baseline.chain(pulp::core_arch::aarch64::Neon::try_new().map(Isa::Neon));
    baseline.collect()
}
