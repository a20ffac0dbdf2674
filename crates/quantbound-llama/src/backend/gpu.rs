//! The GPU backends take [`super::QuantBackend`]'s tensor-op path (f32, and on CUDA f16/bf16
//! compute too).

use super::{FusedOps, QuantBackend};

#[cfg(feature = "cuda")]
impl FusedOps for burn::backend::Cuda {}
#[cfg(feature = "cuda")]
impl QuantBackend for burn::backend::Cuda {
    const NAME: &'static str = "cuda";
}
#[cfg(feature = "cuda")]
impl FusedOps for burn::backend::Cuda<half::f16> {}
#[cfg(feature = "cuda")]
impl QuantBackend for burn::backend::Cuda<half::f16> {
    const NAME: &'static str = "cuda-f16";
}
#[cfg(feature = "cuda")]
impl FusedOps for burn::backend::Cuda<half::bf16> {}
#[cfg(feature = "cuda")]
impl QuantBackend for burn::backend::Cuda<half::bf16> {
    const NAME: &'static str = "cuda-bf16";
}
#[cfg(feature = "wgpu")]
impl FusedOps for burn::backend::Wgpu {}
#[cfg(feature = "wgpu")]
impl QuantBackend for burn::backend::Wgpu {
    const NAME: &'static str = "wgpu";
}
