//! Times [`CpuEngine`] on a model and breaks the time down by operator type.
//!
//! `cargo run --release -p fibha-kernels --example profile -- [MODEL.tflite] [RUNS]`
//! (default: the shipped int8 MobileNetV2, 50 runs). The input is a fixed pseudo-random
//! tensor; the figures are this machine's wall-clock times for one thread.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fibha_kernels::{CpuEngine, EngineOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../assets/models/tf2_mobilenet_v2_1.0_224_ptq.tflite"
        )
        .into()
    });
    let runs: u32 = args.next().map_or(Ok(50), |r| r.parse())?;
    let graph = fibha_model::tflite::load(&model)?;
    let input_len = graph.input().byte_len();
    let input: Vec<u8> = (0..input_len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();

    let mut engine = CpuEngine::new(graph.clone())?;
    engine.run(&input)?;
    let mut times = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        let start = Instant::now();
        engine.run(&input)?;
        times.push(start.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / runs;
    println!(
        "{model}: {runs} runs, mean {:.3} ms, min {:.3} ms, median {:.3} ms",
        ms(mean),
        ms(times[0]),
        ms(times[times.len() / 2])
    );

    let (graph_nodes, tensors) = (graph.nodes.clone(), graph.tensors.clone());
    let options = EngineOptions {
        keep_all_tensors: false,
        profile: true,
    };
    let mut profiled = CpuEngine::with_options(graph, options)?;
    for _ in 0..runs {
        profiled.run(&input)?;
    }
    let profile = profiled.profile().unwrap_or_default();
    let mut by_op: BTreeMap<&str, (usize, Duration)> = BTreeMap::new();
    for p in profile {
        let e = by_op.entry(p.op).or_default();
        e.0 += 1;
        e.1 += p.total;
    }
    let total: Duration = by_op.values().map(|v| v.1).sum();
    println!("per inference, by operator type (profiled run):");
    for (op, (nodes, t)) in by_op {
        println!(
            "  {op:<18} {nodes:>3} nodes {:>8.3} ms {:>5.1} %",
            ms(t / runs),
            100.0 * t.as_secs_f64() / total.as_secs_f64()
        );
    }
    let mut slowest: Vec<_> = profile.iter().collect();
    slowest.sort_by_key(|p| std::cmp::Reverse(p.total));
    println!("slowest nodes:");
    for p in slowest.iter().take(8) {
        let node = &graph_nodes[p.node];
        let shape = |id: usize| &tensors[id].shape;
        println!(
            "  #{:<3} {:<18} {:>8.3} ms  {:?} -> {:?}",
            p.node,
            p.op,
            ms(p.total / runs),
            shape(node.inputs[0]),
            shape(node.outputs[0])
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
