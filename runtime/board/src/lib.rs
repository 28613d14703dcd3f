//! fibha's contact with the board: the Linux interfaces of a Zynq UltraScale+ board.
//!
//! - [`uio`]: the accelerator's registers ([`mmio::RegisterBlock`]) and interrupt
//!   ([`uio::Irq`]), found by UIO name or device-tree node; [`wait::poll_until`] for designs
//!   without the interrupt wired.
//! - [`dma`]: u-dma-buf buffers, mapped cached, with cache maintenance over each transfer's
//!   bytes and typed views.
//! - [`fpga`]: bitstream loading through fpga_manager, device-tree overlays through
//!   configfs, and the check that the loaded accelerator matches the bundle.
//! - [`power`]: the INA226 rails (through hwmon, or directly over I2C), a sampler thread
//!   and energy per inference and per rail group; [`zcu102`] holds the board's rail table.
//! - [`vboard`]: the virtual board's control protocol (ready line, stop and lock files) and
//!   a client that starts and stops one; the virtual board, the runtime and the tests all
//!   use it.
//!
//! Every entry point takes a [`Root`]: `/` on a board, another directory for the virtual
//! board and for tests, which lay out the same files there. This crate's hand-written
//! `unsafe` is confined to the two modules that map memory (`mmio`, `dma`); elsewhere the
//! flatbuffer bindings planus generates into `fibha-model` have `unsafe` on their read
//! path, and `fibha-kernels`' `gemm_vnni` makes one call into a function compiled for
//! AVX-512 VNNI.

pub mod dma;
pub mod error;
pub mod fpga;
pub mod mmio;
pub mod power;
pub mod root;
mod sysfs;
pub mod uio;
pub mod vboard;
pub mod wait;
pub mod zcu102;

pub use dma::{DmaBuffer, DmaBufferInfo, SyncDirection};
pub use error::{BoardError, Result};
pub use fpga::{FpgaManager, KernelIdentity, LoadOptions, Overlay, check_kernel_identity};
pub use mmio::RegisterBlock;
pub use power::{
    EnergyLog, MARK_CAPACITY, PowerRail, RailGroup, RailReader, Sampler, SamplerHandle,
};
pub use root::Root;
pub use uio::{Irq, Uio, UioSelector};
pub use wait::poll_until;
