//! Topology files: a CNN's architecture (shapes only, no weights) in the compact notation
//! of the papers' tables, expanded into layers.
//!
//! A topology is TOML with a `format = "fibha-topology/1"` tag, the input shape, a default
//! activation and a list of `[[stage]]`s. A stage is one of:
//! - `conv`: a standard KxK convolution to `c` channels with stride `s`;
//! - `pw`: a 1x1 convolution to `c` channels;
//! - `separable`: `n` times a KxK depthwise (stride `s` on the first) and a PW to `c`
//!   channels, both with the default activation (MobileNetV1);
//! - `bottleneck`: `n` inverted residuals with expansion `t`, output `c`, kernel `k`, stride
//!   `s` on the first; the projection is linear; a residual ADD joins blocks with stride 1
//!   and equal input/output channels unless `skip = false`; `se = r` inserts a
//!   squeeze-and-excitation with `max(1, floor(r * block input channels))` channels;
//! - `pool` and `fc`: global average pooling and the classifier, which run on the host.
//!
//! Padding is TensorFlow's SAME (the models were trained with it); the expansion reproduces
//! what the TFLite converter emits for these layers, which a test checks for MobileNetV2.
//! Errors name the file and the stage (and TOML's line and column for syntax errors).

use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::network::{Act, Layer, LayerKind, ModelSource, Network, NetworkError, Shape};

/// The format tag every topology file carries.
pub const TOPOLOGY_FORMAT: &str = "fibha-topology/1";

/// Why a topology file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The file could not be read.
    #[error("{path}: cannot read the topology file: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Not valid TOML, or a field has the wrong type or name.
    #[error("{path}: invalid topology file: {detail}")]
    Syntax {
        /// The file.
        path: String,
        /// TOML's message with line and column.
        detail: String,
    },
    /// A stage's values make no sense.
    #[error("{path}: stage #{stage} (op = {op}): {detail}")]
    Stage {
        /// The file.
        path: String,
        /// 1-based stage number.
        stage: usize,
        /// The stage's op.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A top-level field is wrong.
    #[error("{path}: field `{field}`: {detail}")]
    Field {
        /// The file.
        path: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The expanded layers do not form a valid network.
    #[error(transparent)]
    Network(#[from] NetworkError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFile {
    format: String,
    name: String,
    #[serde(default)]
    source: String,
    input: [usize; 3],
    act: Act,
    stage: Vec<Stage>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Stage {
    Conv {
        c: usize,
        k: usize,
        s: usize,
    },
    Pw {
        c: usize,
    },
    Separable {
        c: usize,
        #[serde(default = "one")]
        n: usize,
        s: usize,
        #[serde(default = "three")]
        k: usize,
    },
    Bottleneck {
        t: usize,
        c: usize,
        #[serde(default = "one")]
        n: usize,
        s: usize,
        #[serde(default = "three")]
        k: usize,
        #[serde(default)]
        se: Option<f64>,
        #[serde(default = "yes")]
        skip: bool,
    },
    Pool,
    Fc {
        c: usize,
    },
}

fn one() -> usize {
    1
}
fn three() -> usize {
    3
}
fn yes() -> bool {
    true
}

impl Stage {
    fn op(&self) -> &'static str {
        match self {
            Stage::Conv { .. } => "conv",
            Stage::Pw { .. } => "pw",
            Stage::Separable { .. } => "separable",
            Stage::Bottleneck { .. } => "bottleneck",
            Stage::Pool => "pool",
            Stage::Fc { .. } => "fc",
        }
    }
}

/// TensorFlow SAME padding before the first element along one axis.
pub fn same_pad_before(input: usize, kernel: usize, stride: usize) -> usize {
    let out = input.div_ceil(stride);
    ((out - 1) * stride + kernel).saturating_sub(input) / 2
}

/// One inverted residual block: expansion, output channels, kernel, stride, SE ratio and
/// whether a residual may join it.
#[derive(Clone, Copy)]
struct BlockSpec {
    t: usize,
    c: usize,
    k: usize,
    s: usize,
    se: Option<f64>,
    skip: bool,
}

/// Accumulates layers while walking the stages.
struct Builder {
    layers: Vec<Layer>,
    shape: Shape,
    act: Act,
}

impl Builder {
    fn push(&mut self, name: String, kind: LayerKind, out_c: usize, k: usize, s: usize, act: Act) {
        let input = self.shape;
        let output = Shape::new(input.h.div_ceil(s), input.w.div_ceil(s), out_c);
        self.layers.push(Layer {
            name,
            kind,
            input,
            output,
            kernel: k,
            stride: s,
            pad: [
                same_pad_before(input.h, k, s),
                same_pad_before(input.w, k, s),
            ],
            act,
            skip: None,
            se_channels: 0,
            source_op: None,
        });
        self.shape = output;
    }

    fn bottleneck(&mut self, name: &str, spec: BlockSpec) {
        let BlockSpec {
            t,
            c,
            k,
            s,
            se,
            skip,
        } = spec;
        let input = self.shape;
        let input_producer = self.layers.len().checked_sub(1);
        let hidden = input.c * t;
        if t != 1 {
            self.push(
                format!("{name}.expand"),
                LayerKind::Pointwise,
                hidden,
                1,
                1,
                self.act,
            );
        }
        self.push(
            format!("{name}.dw"),
            LayerKind::Depthwise,
            hidden,
            k,
            s,
            self.act,
        );
        if let Some(ratio) = se {
            let reduced = ((input.c as f64 * ratio).floor() as usize).max(1);
            self.push(
                format!("{name}.se"),
                LayerKind::SqueezeExcite,
                hidden,
                1,
                1,
                Act::None,
            );
            self.layers.last_mut().expect("just pushed").se_channels = reduced;
        }
        self.push(
            format!("{name}.project"),
            LayerKind::Pointwise,
            c,
            1,
            1,
            Act::None,
        );
        if skip && s == 1 && input.c == c {
            self.push(format!("{name}.add"), LayerKind::Add, c, 1, 1, Act::None);
            self.layers.last_mut().expect("just pushed").skip = input_producer;
        }
    }
}

/// Reads a topology file and expands it into a [`Network`].
pub fn load(path: &Path) -> Result<Network, TopologyError> {
    let display = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| TopologyError::Io {
        path: display.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|e| TopologyError::Syntax {
        path: display.clone(),
        detail: format!("not UTF-8 text ({e})"),
    })?;
    let sha = hex(&Sha256::digest(&bytes));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| display.clone());
    parse(&text, &display, file_name, sha)
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses topology TOML; `path` names it in errors, `file` and `sha256` identify it.
pub fn parse(
    text: &str,
    path: &str,
    file: String,
    sha256: String,
) -> Result<Network, TopologyError> {
    let source_file = file;
    let file: TopologyFile = toml::from_str(text).map_err(|e| TopologyError::Syntax {
        path: path.to_string(),
        detail: e.to_string(),
    })?;
    let field = |field: &'static str, detail: String| TopologyError::Field {
        path: path.to_string(),
        field,
        detail,
    };
    if file.format != TOPOLOGY_FORMAT {
        return Err(field(
            "format",
            format!("is '{}', expected '{TOPOLOGY_FORMAT}'", file.format),
        ));
    }
    let [h, w, c] = file.input;
    if h == 0 || w == 0 || c == 0 {
        return Err(field("input", format!("{h}x{w}x{c} has a zero dimension")));
    }
    let mut b = Builder {
        layers: Vec::new(),
        shape: Shape::new(h, w, c),
        act: file.act,
    };
    let mut host = Vec::new();
    let mut block = 0usize;
    for (i, stage) in file.stage.iter().enumerate() {
        let bad = |detail: String| TopologyError::Stage {
            path: path.to_string(),
            stage: i + 1,
            op: stage.op(),
            detail,
        };
        check_stage(stage).map_err(bad)?;
        if !host.is_empty() && !matches!(stage, Stage::Pool | Stage::Fc { .. }) {
            return Err(bad(
                "accelerator layers cannot follow the host's pool/fc head".into(),
            ));
        }
        match *stage {
            Stage::Conv { c, k, s } => b.push(
                format!("s{}.conv", i + 1),
                LayerKind::Conv,
                c,
                k,
                s,
                file.act,
            ),
            Stage::Pw { c } => b.push(
                format!("s{}.pw", i + 1),
                LayerKind::Pointwise,
                c,
                1,
                1,
                file.act,
            ),
            Stage::Separable { c, n, s, k } => {
                for r in 0..n {
                    block += 1;
                    let stride = if r == 0 { s } else { 1 };
                    let ch = b.shape.c;
                    b.push(
                        format!("b{block}.dw"),
                        LayerKind::Depthwise,
                        ch,
                        k,
                        stride,
                        file.act,
                    );
                    b.push(
                        format!("b{block}.pw"),
                        LayerKind::Pointwise,
                        c,
                        1,
                        1,
                        file.act,
                    );
                }
            }
            Stage::Bottleneck {
                t,
                c,
                n,
                s,
                k,
                se,
                skip,
            } => {
                for r in 0..n {
                    block += 1;
                    let stride = if r == 0 { s } else { 1 };
                    let spec = BlockSpec {
                        t,
                        c,
                        k,
                        s: stride,
                        se,
                        skip,
                    };
                    b.bottleneck(&format!("b{block}"), spec);
                }
            }
            Stage::Pool => host.push("global average pool".to_string()),
            Stage::Fc { c } => host.push(format!("fully connected to {c}")),
        }
    }
    let source = ModelSource::Topology {
        file: source_file,
        sha256,
        reference: file.source,
    };
    Ok(Network::new(
        file.name,
        source,
        Shape::new(h, w, c),
        b.layers,
        host,
    )?)
}

fn check_stage(stage: &Stage) -> Result<(), String> {
    let positive = |name: &str, v: usize| {
        if v == 0 {
            Err(format!("field `{name}` must be at least 1"))
        } else {
            Ok(())
        }
    };
    let odd_kernel = |k: usize| {
        if k == 0 || k.is_multiple_of(2) {
            Err(format!("field `k` is {k}; kernels must be odd"))
        } else {
            Ok(())
        }
    };
    match *stage {
        Stage::Conv { c, k, s } => {
            positive("c", c)?;
            positive("s", s)?;
            odd_kernel(k)
        }
        Stage::Pw { c } | Stage::Fc { c } => positive("c", c),
        Stage::Separable { c, n, s, k } => {
            positive("c", c)?;
            positive("n", n)?;
            positive("s", s)?;
            odd_kernel(k)
        }
        Stage::Bottleneck {
            t, c, n, s, k, se, ..
        } => {
            positive("t", t)?;
            positive("c", c)?;
            positive("n", n)?;
            positive("s", s)?;
            odd_kernel(k)?;
            match se {
                Some(r) if !(r > 0.0 && r <= 1.0) => {
                    Err(format!("field `se` is {r}, expected in (0, 1]"))
                }
                _ => Ok(()),
            }
        }
        Stage::Pool => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"
format = "fibha-topology/1"
name = "tiny"
input = [32, 32, 3]
act = "relu6"
[[stage]]
op = "conv"
c = 16
k = 3
s = 2
[[stage]]
op = "bottleneck"
t = 1
c = 8
s = 1
[[stage]]
op = "bottleneck"
t = 6
c = 8
n = 2
s = 2
k = 5
se = 0.25
[[stage]]
op = "pool"
[[stage]]
op = "fc"
c = 10
"#;

    #[test]
    fn stages_expand_into_layers_and_blocks() {
        let net = parse(TINY, "t.toml", "t.toml".into(), String::new()).unwrap();
        let kinds: Vec<&str> = net.layers.iter().map(|l| l.kind.short()).collect();
        assert_eq!(
            kinds,
            [
                "conv", "dw", "pw", "pw", "dw", "se", "pw", "pw", "dw", "se", "pw", "add"
            ]
        );
        assert_eq!(net.layers[4].output, Shape::new(8, 8, 48));
        assert_eq!(net.layers[4].kernel, 5);
        // SE width from the block input channels: floor(8 * 0.25) = 2.
        assert_eq!(net.layers[5].se_channels, 2);
        assert_eq!(net.layers[11].skip, Some(6));
        assert_eq!(net.blocks.len(), 3);
        assert_eq!(net.blocks[2].add, Some(11));
        assert_eq!(net.host.len(), 2);
        // SAME padding: 32 -> 16 with a 3x3 kernel pads 0 before; 16 -> 8 with 5x5 pads 1.
        assert_eq!(net.layers[0].pad, [0, 0]);
        assert_eq!(net.layers[4].pad, [1, 1]);
    }

    #[test]
    fn bad_stage_names_file_stage_and_field() {
        let text = TINY.replace("t = 6", "t = 0");
        let err = parse(&text, "x/m.toml", "t.toml".into(), String::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x/m.toml") && err.contains("stage #3") && err.contains("`t`"),
            "{err}"
        );
        let text = TINY.replace("k = 5", "k = 4");
        let err = parse(&text, "m.toml", "t.toml".into(), String::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("kernels must be odd"), "{err}");
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let text = TINY.replace("c = 16", "c = sixteen");
        let err = parse(&text, "m.toml", "t.toml".into(), String::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.toml") && err.contains("line"), "{err}");
        let text = TINY.replace("op = \"pool\"", "op = \"maxpool\"");
        let err = parse(&text, "m.toml", "t.toml".into(), String::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("maxpool"), "{err}");
        let text = TINY.replace("format = \"fibha-topology/1\"", "format = \"v0\"");
        let err = parse(&text, "m.toml", "t.toml".into(), String::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("format"), "{err}");
    }
}
