//! The host's share of a plan: the model's operators that the engines do not run, on the
//! board's CPU, modelled.
//!
//! A board file names its host CPU's cost model (`[host] model = "a53"`); the models are
//! `fibha_model::host_cost` files, compiled in from `assets/host-model/` (the same files
//! `fibha bench` reads on the board, so the plan and the runtime agree). The share is the
//! per-operator rates times each host operator's work ([`crate::network::HostOps`]),
//! turned into time at the model's clock and IPC range. It adds to the accelerator's
//! latency of one image; the operators run on the runtime's pipeline thread while the
//! accelerator works on the next image, so when images overlap the slower of the two sets
//! the period. Decoding photos runs on other cores and is not part of it.

use fibha_model::host_cost::A53Model;
use serde::{Deserialize, Serialize};

use crate::board::Board;
use crate::network::{ModelSource, Network};
use crate::report::Figures;

/// The host cost models shipped with fibha, compiled in: (name, JSON text).
const SHIPPED: &[(&str, &str)] = &[("a53", include_str!("../../../assets/host-model/a53.json"))];

/// The host's modelled share of one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostFigures {
    /// The cost model (`a53`: `assets/host-model/a53.json`).
    pub model: String,
    /// Its clock, IPC and how its counts were made.
    pub basis: String,
    /// The operators before the accelerator (the input QUANTIZE) and the copy of the input
    /// into its buffer, ms at the middle IPC.
    pub before_ms: f64,
    /// The copy of its output and the operators after it, ms at the middle IPC.
    pub after_ms: f64,
    /// Both together at the high and the low IPC.
    pub range_ms: [f64; 2],
    /// Host operators no rate covers (`#index OP type`): their time is missing above.
    pub unmodelled: Vec<String>,
    /// One image alone: host before + the accelerator's latency + host after.
    pub latency_ms: f64,
    /// Images per second with images overlapped: 1 / max(the accelerator's period, the
    /// host's operators).
    pub fps_pipelined: f64,
    /// Which side sets that period: `host` or `accelerator`.
    pub bound: String,
}

/// The host's share of a plan, or why it is not modelled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HostShare {
    /// Modelled from the board's host cost model.
    Modelled(HostFigures),
    /// No model applies.
    NotModelled {
        /// Why.
        why: String,
    },
}

/// The shipped host cost model `name`, validated as the runtime validates its file.
fn shipped(name: &str) -> Result<A53Model, String> {
    let (_, text) = SHIPPED
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| format!("the board names host model '{name}', which fibha does not ship"))?;
    A53Model::parse(text, std::path::Path::new("assets/host-model/a53.json"))
        .map_err(|e| e.to_string())
}

/// The host's share of `net` on `board`, next to the accelerator's figures `fibha`.
pub fn share(net: &Network, board: &Board, fibha: &Figures) -> HostShare {
    match figures(net, board, fibha) {
        Ok(f) => HostShare::Modelled(f),
        Err(why) => HostShare::NotModelled { why },
    }
}

fn figures(net: &Network, board: &Board, fibha: &Figures) -> Result<HostFigures, String> {
    let name = &board
        .host
        .as_ref()
        .ok_or_else(|| format!("board {} names no host CPU cost model", board.name))?
        .model;
    let model = shipped(name)?;
    if matches!(net.source, ModelSource::Topology { .. }) {
        return Err("the network comes from a topology file, which names no host operators".into());
    }
    let before = model.cost(&net.host_ops.before);
    let after = model.cost(&net.host_ops.after);
    let at = |ipc: f64| model.ms(before.instructions + after.instructions, ipc);
    let [low, mid, high] = model.ipc;
    let host_ms = at(mid);
    let period_ms = fibha.period_ms.max(host_ms);
    Ok(HostFigures {
        model: name.clone(),
        basis: format!("{}; {}", model.basis(), model.method),
        before_ms: model.ms(before.instructions, mid),
        after_ms: model.ms(after.instructions, mid),
        range_ms: [at(high), at(low)],
        unmodelled: [before.unmodelled, after.unmodelled].concat(),
        latency_ms: fibha.latency_ms + host_ms,
        fps_pipelined: if period_ms > 0.0 {
            1e3 / period_ms
        } else {
            0.0
        },
        bound: if host_ms > fibha.period_ms {
            "host"
        } else {
            "accelerator"
        }
        .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_models_load() {
        for (name, _) in SHIPPED {
            let model = shipped(name).unwrap();
            assert!(!model.ops.is_empty(), "{name} has no operator rates");
        }
        assert!(shipped("a9").unwrap_err().contains("'a9'"));
    }
}
