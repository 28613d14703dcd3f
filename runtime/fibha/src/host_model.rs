//! The host's time per image on the ZCU102's Cortex-A53 cores, modelled.
//!
//! No board is at hand, so the host side cannot be timed on an A53. What can be measured
//! is how many aarch64 instructions each host stage executes per image: the aarch64 build
//! of `fibha` runs one stage many times (`fibha bench --host-stage STAGE`, hidden) under
//! qemu-aarch64 with a TCG plugin that counts executed instructions, at two repeat counts,
//! so start-up cancels in the difference (`scripts/measure-a53-host`). Those counts are
//! stored in `assets/host-model/a53.json` and turned into time with the clock and the
//! instructions per cycle stated there (a range, with its sources): time = instructions /
//! (IPC x clock). Every figure derived here is labelled modelled.
//!
//! The stages are those the pipeline runs per image: `decode` (decode and resize a photo
//! into the input tensor: on input workers), `head` (the graph operators before the
//! accelerator, the input QUANTIZE, and the copy into the DMA buffer: on the pipeline
//! thread), `tail` (the operators after it: pooling, classifier, softmax: on the pipeline
//! thread). With W input workers on the board's four cores, the host gives one image every
//! max(head + tail, decode / W); the accelerator bounds the run when its time per image is
//! longer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fibha_kernels::CpuEngine;
use serde::{Deserialize, Serialize};

use crate::instance::Instance;
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
            // Spread values, as logits are: 1001 equal ones (zeros) sum to more exponentials
            // than TFLite's fixed-point softmax can rescale (an exponent past 31, which the
            // CPU engine refuses). The count of instructions does not depend on the values.
            let accel_output: Vec<u8> = (0..graph.tensor(split.accel_output).byte_len())
                .map(|i| (i * 73 % 256) as u8)
                .collect();
            for _ in 0..n {
                engine.set_tensor(split.accel_output, &accel_output)?;
                engine.run_nodes(split.tail.clone())?;
                add(engine.tensor(graph.outputs[0])?);
            }
        }
    }
    Ok(sum)
}

/// The stored model: instructions per image of each stage, and how to turn them into time.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct A53Model {
    /// Format version (1).
    pub format: u32,
    /// The instance the head and tail counts were measured on (its directory name).
    pub instance: String,
    /// How the counts were made.
    pub method: String,
    /// The A53's clock on the ZCU102, Hz.
    pub clock_hz: f64,
    /// Instructions per cycle assumed: low, middle, high.
    pub ipc: [f64; 3],
    /// Where the clock and IPC come from, and why the range.
    pub sources: Vec<String>,
    /// aarch64 instructions per image of each stage.
    pub stages: StageInstructions,
}

/// aarch64 instructions per image of each host stage.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StageInstructions {
    /// Decode and resize, per photo (file name, instructions).
    pub decode: Vec<(String, f64)>,
    /// Operators before the accelerator and the DMA copy.
    pub head: f64,
    /// Operators after the accelerator.
    pub tail: f64,
}

/// The A53 host estimate for one run, milliseconds per image at the middle IPC (low and
/// high IPC give the range).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct A53Estimate {
    /// Always true: computed from instruction counts, not measured on a board.
    pub modelled: bool,
    /// Decode and resize of one photo (mean over the measured photos).
    pub decode_ms: f64,
    /// The head operators and DMA copy.
    pub head_ms: f64,
    /// The tail operators.
    pub tail_ms: f64,
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

/// Why the stored model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file is missing or unreadable.
    #[error("{}: cannot read the A53 host model: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not a model of this format.
    #[error("{}: not an A53 host model of format 1: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
}

impl A53Model {
    /// The shipped model, `assets/host-model/a53.json`.
    pub fn shipped() -> PathBuf {
        crate::assets::asset("host-model/a53.json")
    }

    /// Reads a model file.
    pub fn load(path: &Path) -> Result<A53Model, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let model: A53Model = serde_json::from_str(&text).map_err(|source| ModelError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        if model.format != 1 || model.clock_hz <= 0.0 || model.ipc.iter().any(|i| *i <= 0.0) {
            return Err(ModelError::Parse {
                path: path.to_path_buf(),
                source: serde::de::Error::custom("format 1 with a positive clock and IPC"),
            });
        }
        Ok(model)
    }

    /// The estimate for `threads` input workers (at most [`BOARD_WORKER_CORES`] on the
    /// board), an accelerator taking `accelerator_ms` per image, with or without decoding.
    pub fn estimate(&self, threads: usize, accelerator_ms: f64, decoding: bool) -> A53Estimate {
        let ms = |instructions: f64, ipc: f64| instructions / (ipc * self.clock_hz) * 1e3;
        let decode_instr = if self.stages.decode.is_empty() {
            0.0
        } else {
            self.stages.decode.iter().map(|(_, n)| n).sum::<f64>() / self.stages.decode.len() as f64
        };
        let workers = threads.clamp(1, BOARD_WORKER_CORES);
        let period = |ipc: f64| {
            let pipeline = ms(self.stages.head + self.stages.tail, ipc);
            let decode = if decoding {
                ms(decode_instr, ipc) / workers as f64
            } else {
                0.0
            };
            pipeline.max(decode)
        };
        let [low, mid, high] = self.ipc;
        let host_period_ms = period(mid);
        A53Estimate {
            modelled: true,
            decode_ms: ms(decode_instr, mid),
            head_ms: ms(self.stages.head, mid),
            tail_ms: ms(self.stages.tail, mid),
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
                "aarch64 instructions per stage counted under qemu-aarch64, at {:.2} GHz and IPC {mid} (range {low}-{high}); {}",
                self.clock_hz / 1e9,
                self.method
            ),
        }
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
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> A53Model {
        A53Model {
            format: 1,
            instance: "x".into(),
            method: "test".into(),
            clock_hz: 1e9,
            ipc: [0.5, 1.0, 2.0],
            sources: Vec::new(),
            stages: StageInstructions {
                decode: vec![("a".into(), 4e6), ("b".into(), 8e6)],
                head: 1e6,
                tail: 1e6,
            },
        }
    }

    #[test]
    fn workers_divide_decoding_until_the_pipeline_thread_bounds() {
        let m = model();
        // Decode 6 ms a photo, head + tail 2 ms: one worker bounds at 6 ms, three at 2.
        let one = m.estimate(1, 1.0, true);
        assert!((one.decode_ms - 6.0).abs() < 1e-9);
        assert!((one.host_period_ms - 6.0).abs() < 1e-9);
        assert_eq!(one.bound, "host");
        let many = m.estimate(8, 1.0, true);
        assert_eq!(many.workers, BOARD_WORKER_CORES);
        assert!((many.host_period_ms - 2.0).abs() < 1e-9);
        // Raw tensors: only the pipeline thread; a slower accelerator bounds.
        let raw = m.estimate(1, 5.0, false);
        assert!((raw.host_period_ms - 2.0).abs() < 1e-9);
        assert_eq!(raw.bound, "accelerator");
        // High IPC is the short end of the range.
        assert!((raw.host_period_range_ms[0] - 1.0).abs() < 1e-9);
        assert!((raw.host_period_range_ms[1] - 4.0).abs() < 1e-9);
    }

    #[test]
    fn a_bad_file_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a53.json");
        std::fs::write(&path, "{\"format\": 2}").unwrap();
        let err = A53Model::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("a53.json") && err.contains("format 1"),
            "{err}"
        );
    }
}
