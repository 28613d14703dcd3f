//! `fibha run`: one raw tensor in, the model's raw output tensor out, on either backend:
//! how anyone checks bit-exactness against another engine.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, anyhow};
use fibha::inputs::TensorSource;
use fibha::pipeline::{FillError, Record, RunnerOptions, Sink};
use fibha::tensor_file;

use super::{Status, prepare};
use crate::ModelArgs;

/// Keeps the one output.
struct Keep {
    output: Option<Vec<u8>>,
    skipped: Option<String>,
}

impl Sink for Keep {
    fn skipped(&mut self, _item: usize, error: &FillError) {
        self.skipped = Some(error.to_string());
    }

    fn output(&mut self, _record: &Record, output: &[u8]) -> Result<(), FillError> {
        self.output = Some(output.to_vec());
        Ok(())
    }
}

/// Runs `fibha run`.
pub fn run(args: &ModelArgs, input: &Path, output: &Path) -> Result<Status> {
    // A first Ctrl-C lets the one inference finish; a second exits at once, removing a
    // virtual board's root.
    super::install_stop()?;
    let mut prepared = prepare(
        args,
        RunnerOptions {
            verify: args.verify,
            profile: false,
            input_threads: 0,
        },
        input.display().to_string(),
    )?;
    let graph = prepared.runner.graph();
    let data = tensor_file::read_npy(input, graph.input(), "input")?;
    let output_tensor = graph.output().clone();
    let mut source = TensorSource::new(vec![data], 1);
    let mut sink = Keep {
        output: None,
        skipped: None,
    };
    // One tensor: nothing to stop between.
    let never = AtomicBool::new(false);
    prepared
        .runner
        .run(&mut source, &mut sink, &never)
        .with_context(|| format!("{}: the run failed", input.display()))?;
    let bytes = match (sink.output, sink.skipped) {
        (Some(bytes), _) => bytes,
        (None, Some(why)) => return Err(anyhow!("{}: {why}", input.display())),
        (None, None) => return Err(anyhow!("{}: no output was produced", input.display())),
    };
    tensor_file::write_npy(output, &output_tensor, &bytes)?;
    Ok(super::status())
}
