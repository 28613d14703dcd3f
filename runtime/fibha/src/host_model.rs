//! The host's time per image on the ZCU102's Cortex-A53 cores, modelled.
//!
//! No board is at hand, so the host side cannot be timed on an A53. What can be measured
//! is how many aarch64 instructions it executes: `scripts/measure-a53-host` counts them
//! under qemu-aarch64 with a TCG plugin, per operator of the CPU engine (the rates of
//! `fibha_model::host_cost`, which the compiler's plan uses too), per photo decoded, and
//! per image of the shipped instance's host stages run whole (`fibha bench --host-stage
//! STAGE`, hidden, at two repeat counts so start-up cancels), which checks the rates. The
//! counts live in `assets/host-model/a53.json` and become time with the clock and the
//! instructions per cycle stated there (a range, with its sources): time = instructions /
//! (IPC x clock). Every figure derived here is labelled modelled.
//!
//! The stages are those the pipeline runs per image: `decode` (decode and resize a photo
//! into the input tensor: on input workers), `head` (the graph operators before the
//! accelerator, the input QUANTIZE, and the copy into the DMA buffer: on the pipeline
//! thread), `tail` (the operators after it: softmax and whatever the engines do not run:
//! on the pipeline thread). With W input workers on the board's four cores, the host gives
//! one image every max(head + tail, decode / W); the accelerator bounds the run when its
//! time per image is longer.

use std::path::PathBuf;
use std::sync::Arc;

use fibha_kernels::CpuEngine;
use fibha_model::Graph;
use fibha_model::host_cost::{A53Model, HostSide, OpsCost};
use serde::Serialize;

use crate::instance::{Instance, Split};
use crate::preprocess;

/// The A53 cores the board's Linux can run input workers on besides the pipeline thread.
pub const BOARD_WORKER_CORES: usize = 3;

/// A host stage `fibha bench --host-stage` runs alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HostStage {
    /// Decode and resize a photo into the input tensor.
    Decode,
    /// The operators before the accelerator and the copy into the DMA buffer.
    Head,
    /// The operators after the accelerator.
    Tail,
}

/// Runs `stage` `n` times for `instance` (decode: cycling through `images`); returns a
/// checksum of what it computed, so the work cannot be optimised away.
pub fn run_stage(
    stage: HostStage,
    instance: &Instance,
    images: &[PathBuf],
    n: u64,
) -> anyhow::Result<u64> {
    let graph = Arc::clone(&instance.graph);
    let input = graph.input().clone();
    let mut buffer = vec![0u8; input.byte_len()];
    let mut sum = 0u64;
    let mut add = |bytes: &[u8]| {
        sum = bytes
            .iter()
            .fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
    };
    match stage {
        HostStage::Decode => {
            anyhow::ensure!(!images.is_empty(), "--host-stage decode needs images");
            for i in 0..n {
                let path = &images[(i as usize) % images.len()];
                preprocess::load_image_into(path, &input, &mut buffer)?;
                add(&buffer[..64.min(buffer.len())]);
            }
        }
        HostStage::Head => {
            let split = &instance.split;
            let mut engine = CpuEngine::new(Arc::clone(&graph))?;
            let accel_input = graph.tensor(split.accel_input);
            let mut dma = vec![0u8; accel_input.byte_len()];
            for _ in 0..n {
                engine.set_tensor(graph.inputs[0], &buffer)?;
                engine.run_nodes(split.head.clone())?;
                accel_input
                    .dtype
                    .copy_stored(engine.tensor(split.accel_input)?, &mut dma);
                add(&dma[..64.min(dma.len())]);
            }
        }
        HostStage::Tail => {
            let split = &instance.split;
            let mut engine = CpuEngine::new(Arc::clone(&graph))?;
            let tensor = graph.tensor(split.accel_output);
            // Spread values, as logits are: 1001 equal ones (zeros) sum to more exponentials
            // than TFLite's fixed-point softmax can rescale (an exponent past 31, which the
            // CPU engine refuses). The count of instructions depends little on the values.
            let dma: Vec<u8> = (0..tensor.byte_len())
                .map(|i| (i * 73 % 256) as u8)
                .collect();
            let mut accel_output = vec![0u8; dma.len()];
            let channels = tensor.shape.last().copied().unwrap_or(1);
            for _ in 0..n {
                // As the pipeline does: out of the DMA buffer, into the engine.
                tensor
                    .dtype
                    .copy_stored_map(&dma, &mut accel_output, channels);
                engine.set_tensor(split.accel_output, &accel_output)?;
                engine.run_nodes(split.tail.clone())?;
                let out = engine.tensor(graph.outputs[0])?;
                add(&out[..64.min(out.len())]);
            }
        }
    }
    Ok(sum)
}

/// The A53 host estimate for one run, milliseconds per image at the middle IPC (low and
/// high IPC give the range).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct A53Estimate {
    /// Always true: computed from instruction counts, not measured on a board.
    pub modelled: bool,
    /// Decode and resize of one photo (mean over the measured photos).
    pub decode_ms: f64,
    /// The operators before the accelerator and the copy of their result into its buffer.
    pub head_ms: f64,
    /// The copy of its result out of its buffer and the operators after it.
    pub tail_ms: f64,
    /// The instance's host operators no rate covers (their time is missing above).
    pub unmodelled: Vec<String>,
    /// Input workers assumed on the board (`--threads`, at most three).
    pub workers: usize,
    /// One image every this many ms from the host: max(head + tail, decode / workers).
    pub host_period_ms: f64,
    /// The same at the high and the low IPC.
    pub host_period_range_ms: [f64; 2],
    /// The accelerator's time per image (modelled or measured).
    pub accelerator_ms: f64,
    /// "host" or "accelerator": which side bounds the throughput.
    pub bound: &'static str,
    /// Whether the images are decoded (raw tensors skip `decode`).
    pub decoding: bool,
    /// IPC and clock used, and their sources.
    pub basis: String,
}

/// The shipped model, `assets/host-model/a53.json`.
pub fn shipped() -> PathBuf {
    crate::assets::asset("host-model/a53.json")
}

/// The modelled instructions of the host's work before and after the accelerator.
pub fn split_cost(model: &A53Model, graph: &Graph, split: &Split) -> [OpsCost; 2] {
    let before = HostSide::of(graph, &graph.nodes[split.head.clone()], split.accel_input);
    let after = HostSide::of(graph, &graph.nodes[split.tail.clone()], split.accel_output);
    [model.cost(&before), model.cost(&after)]
}

/// The estimate for host operators costing `head` and `tail` with `threads` input workers
/// (at most [`BOARD_WORKER_CORES`] on the board), an accelerator taking `accelerator_ms`
/// per image, with or without decoding.
pub fn estimate(
    model: &A53Model,
    [head, tail]: [OpsCost; 2],
    threads: usize,
    accelerator_ms: f64,
    decoding: bool,
) -> A53Estimate {
    let decode = &model.stages.decode;
    let decode_instr = if decode.is_empty() {
        0.0
    } else {
        decode.iter().map(|(_, n)| n).sum::<f64>() / decode.len() as f64
    };
    let workers = threads.clamp(1, BOARD_WORKER_CORES);
    let period = |ipc: f64| {
        let pipeline = model.ms(head.instructions + tail.instructions, ipc);
        let decode = if decoding {
            model.ms(decode_instr, ipc) / workers as f64
        } else {
            0.0
        };
        pipeline.max(decode)
    };
    let [low, mid, high] = model.ipc;
    let host_period_ms = period(mid);
    A53Estimate {
        modelled: true,
        decode_ms: model.ms(decode_instr, mid),
        head_ms: model.ms(head.instructions, mid),
        tail_ms: model.ms(tail.instructions, mid),
        unmodelled: [head.unmodelled, tail.unmodelled].concat(),
        workers,
        host_period_ms,
        host_period_range_ms: [period(high), period(low)],
        accelerator_ms,
        bound: if host_period_ms > accelerator_ms {
            "host"
        } else {
            "accelerator"
        },
        decoding,
        basis: format!(
            "aarch64 instructions counted under qemu-aarch64 (host operators: per-operator rates x this model's work), at {}; {}",
            model.basis(),
            model.method
        ),
    }
}

impl A53Estimate {
    /// The one-line summary `fibha bench` prints.
    pub fn line(&self) -> String {
        let decode = if self.decoding {
            format!(
                "decode + resize {:.2} ms on {} worker(s), ",
                self.decode_ms, self.workers
            )
        } else {
            String::new()
        };
        format!(
            "A53 host, modelled: one image every {:.2} ms ({:.2}-{:.2}) = {:.0} images/s ({decode}quantize + head {:.3} ms, tail {:.3} ms on the pipeline thread); accelerator {:.3} ms/image; bound: {}",
            self.host_period_ms,
            self.host_period_range_ms[0],
            self.host_period_range_ms[1],
            if self.host_period_ms > 0.0 {
                1e3 / self.host_period_ms
            } else {
                0.0
            },
            self.head_ms,
            self.tail_ms,
            self.accelerator_ms,
            self.bound
        ) + &if self.unmodelled.is_empty() {
            String::new()
        } else {
            format!(" (no rate for {}: not counted)", self.unmodelled.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use fibha_model::host_cost::{A53_MODEL_FORMAT, StageInstructions};

    use super::*;

    fn model() -> A53Model {
        A53Model {
            format: A53_MODEL_FORMAT,
            method: "test".into(),
            clock_hz: 1e9,
            ipc: [0.5, 1.0, 2.0],
            sources: Vec::new(),
            stages: StageInstructions {
                decode: vec![("a".into(), 4e6), ("b".into(), 8e6)],
                instance: "x".into(),
                head: 1e6,
                tail: 1e6,
            },
            ops: BTreeMap::new(),
            dma_copy_instructions_per_byte: 0.5,
        }
    }

    fn cost(instructions: f64) -> OpsCost {
        OpsCost {
            instructions,
            unmodelled: Vec::new(),
        }
    }

    #[test]
    fn workers_divide_decoding_until_the_pipeline_thread_bounds() {
        let m = model();
        let ops = || [cost(1e6), cost(1e6)];
        // Decode 6 ms a photo, head + tail 2 ms: one worker bounds at 6 ms, three at 2.
        let one = estimate(&m, ops(), 1, 1.0, true);
        assert!((one.decode_ms - 6.0).abs() < 1e-9);
        assert!((one.host_period_ms - 6.0).abs() < 1e-9);
        assert_eq!(one.bound, "host");
        let many = estimate(&m, ops(), 8, 1.0, true);
        assert_eq!(many.workers, BOARD_WORKER_CORES);
        assert!((many.host_period_ms - 2.0).abs() < 1e-9);
        // Raw tensors: only the pipeline thread; a slower accelerator bounds.
        let raw = estimate(&m, ops(), 1, 5.0, false);
        assert!((raw.host_period_ms - 2.0).abs() < 1e-9);
        assert_eq!(raw.bound, "accelerator");
        // High IPC is the short end of the range.
        assert!((raw.host_period_range_ms[0] - 1.0).abs() < 1e-9);
        assert!((raw.host_period_range_ms[1] - 4.0).abs() < 1e-9);
    }
}
