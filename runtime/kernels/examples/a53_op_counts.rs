//! Per-operator instruction counts of [`CpuEngine`] for the A53 host model
//! (`fibha_model::host_cost`), in two steps that `scripts/measure-a53-host` runs:
//!
//! `a53_op_counts loop MODEL.tflite REPEATS` runs under qemu-aarch64 with the
//! `tools/qemu-insn` plugin's `marks=FILE`: it runs an empty node range and then each node
//! alone, REPEATS times each after one run that is not counted (it grows the scratch),
//! calling `getpid` before and after every batch, and last the runtime's two copies of 64
//! KiB between a tensor and a DMA buffer (`HostSide::dma_bytes`). The plugin writes the
//! count of executed instructions at each such call. Every node reads values spread evenly over its input
//! type's range, as `fibha bench --host-stage tail` feeds the softmax: the instructions of
//! a few operators depend on the values (SOFTMAX skips the exponential of a logit far
//! below the largest), and spread values are a stated, model-independent case.
//!
//! `a53_op_counts rates REPEATS MODEL.tflite=MARKS ...` (on the build machine) turns those
//! marks into a count per node, less the empty range's (the loop's own instructions), and
//! prints the `ops` and `dma_copy_instructions_per_byte` members of
//! `assets/host-model/a53.json`: per `HostOp::key` (operator and input type), the summed
//! instructions over the summed work of every node measured, and the copies' instructions
//! per byte (the mean over the runs).

use std::collections::BTreeMap;
use std::path::Path;

use fibha_kernels::{CpuEngine, EngineOptions};
use fibha_model::host_cost::{HostOp, OpRate};
use fibha_model::{DType, Tensor};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [mode, model, repeats] if mode == "loop" => run_loop(Path::new(model), repeats.parse()?),
        [mode, repeats, pairs @ ..] if mode == "rates" && !pairs.is_empty() => {
            rates(repeats.parse()?, pairs)
        }
        _ => Err("usage: a53_op_counts loop MODEL REPEATS | rates REPEATS MODEL=MARKS...".into()),
    }
}

/// Values spread evenly over a tensor's range: every byte value in turn, or floats in
/// [0, 1) for a float tensor.
fn spread(t: &Tensor) -> Vec<u8> {
    let byte = |i: usize| (i * 73 % 256) as u8;
    match t.dtype {
        DType::Float32 => (0..t.len())
            .flat_map(|i| (f32::from(byte(i)) / 256.0).to_le_bytes())
            .collect(),
        _ => (0..t.byte_len()).map(byte).collect(),
    }
}

/// The plugin records a mark at every `getpid`.
fn mark() {
    std::hint::black_box(std::process::id());
}

fn run_loop(model: &Path, repeats: u32) -> Result<()> {
    let graph = fibha_model::tflite::load(model)?;
    let options = EngineOptions {
        keep_all_tensors: true,
        profile: false,
    };
    let mut engine = CpuEngine::with_options(graph.clone(), options)?;
    for range in std::iter::once(0..0).chain((0..graph.nodes.len()).map(|i| i..i + 1)) {
        for node in &graph.nodes[range.clone()] {
            for &id in node
                .inputs
                .iter()
                .filter(|&&t| graph.tensor(t).data.is_none())
            {
                engine.set_tensor(id, &spread(graph.tensor(id)))?;
            }
        }
        engine.run_nodes(range.clone())?;
        mark();
        for _ in 0..repeats {
            engine.run_nodes(range.clone())?;
        }
        mark();
    }
    // What the pipeline does with the accelerator's input: into the engine's tensor, then
    // into the DMA buffer in the accelerator's form.
    let tensor = vec![0u8; COPY_BYTES];
    let (mut engine_copy, mut dma) = (vec![0u8; COPY_BYTES], vec![0u8; COPY_BYTES]);
    mark();
    for _ in 0..repeats {
        engine_copy.copy_from_slice(std::hint::black_box(&tensor));
        DType::UInt8.copy_stored(&engine_copy, &mut dma);
        std::hint::black_box(&mut dma);
    }
    mark();
    Ok(())
}

/// Bytes of the copy measured.
const COPY_BYTES: usize = 64 << 10;

fn rates(repeats: u32, pairs: &[String]) -> Result<()> {
    let mut sums: BTreeMap<String, (OpRate, f64)> = BTreeMap::new();
    let mut copies = Vec::new();
    for pair in pairs {
        let (model, marks) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair}: expected MODEL=MARKS"))?;
        let graph = fibha_model::tflite::load(model)?;
        let marks: Vec<f64> = std::fs::read_to_string(marks)?
            .lines()
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()?;
        if marks.len() != 2 * (graph.nodes.len() + 2) {
            return Err(format!(
                "{pair}: {} marks for {} nodes; expected two per node, the empty range and the copy",
                marks.len(),
                graph.nodes.len()
            )
            .into());
        }
        let batch = |i: usize| marks[2 * i + 1] - marks[2 * i];
        let copy = batch(graph.nodes.len() + 1) / f64::from(repeats) / COPY_BYTES as f64;
        copies.push(copy);
        let name = Path::new(model)
            .file_name()
            .map_or_else(|| model.to_string(), |n| n.to_string_lossy().into_owned());
        for (i, node) in graph.nodes.iter().enumerate() {
            let instructions = (batch(i + 1) - batch(0)).max(0.0) / f64::from(repeats);
            let op = HostOp::of(&graph, node);
            let (rate, total) = sums.entry(op.key).or_insert_with(|| {
                let rate = OpRate {
                    unit: op.unit,
                    instructions_per_unit: 0.0,
                    nodes: 0,
                    work: 0,
                    models: Vec::new(),
                };
                (rate, 0.0)
            });
            rate.nodes += 1;
            rate.work += op.work;
            *total += instructions;
            if !rate.models.contains(&name) {
                rate.models.push(name.clone());
            }
        }
    }
    let ops: BTreeMap<String, OpRate> = sums
        .into_iter()
        .map(|(key, (mut rate, total))| {
            rate.instructions_per_unit = (total / rate.work.max(1) as f64 * 1e3).round() / 1e3;
            (key, rate)
        })
        .collect();
    let copy = copies.iter().sum::<f64>() / copies.len() as f64;
    println!(
        "\"ops\": {},\n\"dma_copy_instructions_per_byte\": {:.4}",
        serde_json::to_string_pretty(&ops)?,
        copy
    );
    Ok(())
}
