//! Resolving the MODEL argument: a `.tflite` file, a topology file, or the name of a
//! topology shipped with fibha (compiled in, so sweeps work from any directory).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::import::{self, ImportError, Imported};
use crate::network::Network;
use crate::topology::{self, TopologyError, hex};

/// The topologies shipped in `tools/compiler/topologies/`: (name, TOML text).
pub const SHIPPED_TOPOLOGIES: &[(&str, &str)] = &[
    (
        "mobilenet_v1_1.0_224",
        include_str!("../topologies/mobilenet_v1_1.0_224.toml"),
    ),
    (
        "mobilenet_v2_1.0_224",
        include_str!("../topologies/mobilenet_v2_1.0_224.toml"),
    ),
    (
        "proxylessnas_mobile",
        include_str!("../topologies/proxylessnas_mobile.toml"),
    ),
    ("mnasnet_a1", include_str!("../topologies/mnasnet_a1.toml")),
    (
        "efficientnet_lite0",
        include_str!("../topologies/efficientnet_lite0.toml"),
    ),
];

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A `.tflite` that cannot be imported or mapped.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A topology file with an error.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// Neither a file nor a shipped topology.
    #[error("'{arg}' is not a file and not a shipped topology (shipped: {known})")]
    Unknown {
        /// What the user gave.
        arg: String,
        /// The shipped topology names.
        known: String,
    },
}

/// A loaded model: always a network; weights only when it came from a `.tflite`.
#[derive(Clone, Debug)]
pub struct Model {
    /// The compiler's view.
    pub network: Network,
    /// The imported graph and per-layer tensors, for weight packing.
    pub imported: Option<Imported>,
}

/// Loads `arg`: a `.tflite` file, a topology file, or a shipped topology's name.
pub fn load(arg: &str) -> Result<Model, LoadError> {
    let path = Path::new(arg);
    if path.is_file() {
        let is_tflite = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tflite"));
        return if is_tflite {
            let imported = import::load(path)?;
            Ok(Model {
                network: imported.network.clone(),
                imported: Some(imported),
            })
        } else {
            Ok(Model {
                network: topology::load(path)?,
                imported: None,
            })
        };
    }
    let name = arg.trim_end_matches(".toml");
    let prefix = format!("{name}_");
    let by_prefix: Vec<&(&str, &str)> = SHIPPED_TOPOLOGIES
        .iter()
        .filter(|(n, _)| n.starts_with(&prefix))
        .collect();
    let found = SHIPPED_TOPOLOGIES
        .iter()
        .find(|(n, _)| *n == name)
        .or_else(|| (by_prefix.len() == 1).then(|| by_prefix[0]));
    let Some((name, text)) = found else {
        return Err(LoadError::Unknown {
            arg: arg.to_string(),
            known: shipped_names().join(", "),
        });
    };
    load_shipped(name, text)
}

fn load_shipped(name: &str, text: &str) -> Result<Model, LoadError> {
    let file = format!("{name}.toml");
    let sha = hex(&Sha256::digest(text.as_bytes()));
    let network = topology::parse(text, &format!("<shipped>/{file}"), file, sha)?;
    Ok(Model {
        network,
        imported: None,
    })
}

/// The shipped topology names.
pub fn shipped_names() -> Vec<&'static str> {
    SHIPPED_TOPOLOGIES.iter().map(|(n, _)| *n).collect()
}

/// All shipped topologies, loaded.
pub fn shipped() -> Result<Vec<Model>, LoadError> {
    SHIPPED_TOPOLOGIES
        .iter()
        .map(|(n, t)| load_shipped(n, t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_topologies_expand() {
        let models = shipped().unwrap();
        assert_eq!(models.len(), 5);
        let names: Vec<&str> = models.iter().map(|m| m.network.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "MobileNetV1 1.0/224",
                "MobileNetV2 1.0/224",
                "ProxylessNAS-Mobile",
                "MnasNet-A1",
                "EfficientNet-Lite0"
            ]
        );
        // Published multiply-accumulate counts (feature extractor + classifier): MobileNetV1
        // 569 M (Howard et al. 2017, table 8), MobileNetV2 300 M (Sandler et al. 2018, table
        // 4), MnasNet-A1 312 M (Tan et al. 2019, table 1). The accelerator's share excludes
        // the classifier (1024 or 1280 inputs x 1000 classes), which runs on the host: add it
        // back and the counts agree within 1 %.
        for (i, published_m, classifier_inputs) in
            [(0, 569.0, 1024), (1, 300.0, 1280), (3, 312.0, 1280)]
        {
            let m = &models[i].network;
            let total = (m.macs() + classifier_inputs * 1000) as f64 / 1e6;
            assert!(
                (total / published_m - 1.0).abs() <= 0.01,
                "{}: {total:.1} M MACs, published {published_m} M",
                m.name
            );
        }
        for m in &models {
            assert!(matches!(
                m.network.source,
                crate::network::ModelSource::Topology { .. }
            ));
        }
    }

    #[test]
    fn names_resolve_and_unknown_lists_known() {
        assert_eq!(
            load("mobilenet_v2_1.0_224").unwrap().network.layers.len(),
            62
        );
        assert_eq!(load("mobilenet_v2").unwrap().network.layers.len(), 62);
        assert_eq!(load("mnasnet_a1.toml").unwrap().network.name, "MnasNet-A1");
        let err = load("resnet50").unwrap_err().to_string();
        assert!(
            err.contains("resnet50") && err.contains("efficientnet_lite0"),
            "{err}"
        );
    }
}
