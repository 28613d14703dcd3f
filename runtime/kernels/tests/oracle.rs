//! The CPU engine against TensorFlow Lite's reference interpreter.
//!
//! `engine_matches_the_tflite_oracle` reads the dumps of `tests/oracle/tflite_oracle.py`
//! from `$FIBHA_ORACLE_DIR/<model stem>/dump/<input>/` (every operator's input and output
//! tensors as `t<id>.npy`, listed in `manifest.json`) and checks, for every shipped model
//! and every dumped input: (1) layer by layer, that each node fed with the interpreter's
//! inputs writes the interpreter's output bytes; (2) end to end, that the whole graph run
//! from the dumped input gives the interpreter's output. All differences are collected and
//! reported (node, operator, first differing element, number of differing elements)
//! before the test fails. It is ignored by default (the harness lists it as ignored, with
//! what it needs); run, it fails without `FIBHA_ORACLE_DIR`. `scripts/test` makes the dumps
//! and runs the ignored tests.
//!
//! `engine_matches_the_committed_goldens` runs the committed inputs of
//! `tests/goldens/<model stem>/inputs/` and compares the SHA-256 of every tensor with
//! `tests/goldens/<model stem>.json`, for the shipped models and every operator model of
//! `tests/models/ops/` (`scripts/make-op-models.py`; their inputs include ones that saturate
//! and one with every input code); they are committed, so a missing one fails it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use fibha_kernels::{CpuEngine, EngineOptions};
use fibha_model::{DType, Graph, TensorId};
use serde_json::Value;
use sha2::{Digest, Sha256};

const MODELS: [&str; 2] = ["tf2_mobilenet_v2_1.0_224_ptq", "mobilenet_v2_1.0_224_quant"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load_model(stem: &str) -> Graph {
    load_path(
        &workspace()
            .join("assets/models")
            .join(format!("{stem}.tflite")),
    )
}

fn load_path(path: &Path) -> Graph {
    fibha_model::tflite::load(path).unwrap_or_else(|e| panic!("{e}"))
}

/// The models with committed goldens: the shipped ones and every operator model of
/// `tests/models/ops/`, by stem.
fn golden_models() -> Vec<(String, PathBuf)> {
    let mut models: Vec<(String, PathBuf)> = MODELS
        .iter()
        .map(|stem| {
            let path = workspace()
                .join("assets/models")
                .join(format!("{stem}.tflite"));
            (stem.to_string(), path)
        })
        .collect();
    let ops = workspace().join("tests/models/ops");
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&ops)
        .unwrap_or_else(|e| panic!("{}: {e}", ops.display()))
        .map(|e| e.expect("directory entry").path())
        .filter_map(|p| {
            let stem = p.file_name()?.to_str()?.strip_suffix(".tflite")?.to_owned();
            Some((stem, p))
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "{}: no operator models", ops.display());
    models.extend(found);
    models
}

/// A tensor read from a `.npy` file: its element type and little-endian bytes.
struct Npy {
    dtype: DType,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn read_npy(path: &Path) -> Npy {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let shape = npy.shape().iter().map(|&d| d as usize).collect();
    let descr = npy.dtype().descr();
    fn values<T: npyz::Deserialize>(npy: npyz::NpyFile<impl std::io::Read>, path: &Path) -> Vec<T> {
        npy.into_vec()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
    let (dtype, bytes) = if descr.contains("i1") {
        (
            DType::Int8,
            values::<i8>(npy, path).iter().map(|&x| x as u8).collect(),
        )
    } else if descr.contains("u1") {
        (DType::UInt8, values::<u8>(npy, path))
    } else if descr.contains("f4") {
        let v = values::<f32>(npy, path);
        (
            DType::Float32,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    } else if descr.contains("i4") {
        let v = values::<i32>(npy, path);
        (
            DType::Int32,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    } else {
        panic!("{}: unsupported dtype {descr}", path.display())
    };
    Npy {
        dtype,
        shape,
        bytes,
    }
}

/// Element `i` of `bytes` as a number, for messages.
fn element(dtype: DType, bytes: &[u8], i: usize) -> String {
    let at = |n: usize| &bytes[i * n..(i + 1) * n];
    match dtype {
        DType::Int8 => (bytes[i] as i8).to_string(),
        DType::UInt8 => bytes[i].to_string(),
        DType::Float32 => f32::from_le_bytes(at(4).try_into().expect("4 bytes")).to_string(),
        DType::Int32 => i32::from_le_bytes(at(4).try_into().expect("4 bytes")).to_string(),
        DType::Int64 => i64::from_le_bytes(at(8).try_into().expect("8 bytes")).to_string(),
    }
}

/// `None` if equal, else the first differing element and the number of differing ones.
fn compare(dtype: DType, got: &[u8], want: &[u8]) -> Option<String> {
    if got == want {
        return None;
    }
    if got.len() != want.len() {
        return Some(format!("{} bytes, expected {}", got.len(), want.len()));
    }
    let size = dtype.size();
    let differing: Vec<usize> = (0..got.len() / size)
        .filter(|&i| got[i * size..(i + 1) * size] != want[i * size..(i + 1) * size])
        .collect();
    let first = differing[0];
    Some(format!(
        "element {first}: got {}, expected {}; {} of {} elements differ",
        element(dtype, got, first),
        element(dtype, want, first),
        differing.len(),
        got.len() / size
    ))
}

/// The dump of one input: the manifest's tensors, loaded lazily.
struct Dump {
    dir: PathBuf,
    files: BTreeMap<TensorId, String>,
}

impl Dump {
    fn open(dir: &Path) -> Dump {
        let text = std::fs::read_to_string(dir.join("manifest.json"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let manifest: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let files = manifest["tensors"]
            .as_object()
            .unwrap_or_else(|| panic!("{}: manifest has no tensors", dir.display()))
            .iter()
            .map(|(id, t)| {
                let id: TensorId = id.parse().unwrap_or_else(|e| panic!("tensor id {id}: {e}"));
                (id, t["file"].as_str().expect("file name").to_string())
            })
            .collect();
        Dump {
            dir: dir.to_path_buf(),
            files,
        }
    }

    fn tensor(&self, id: TensorId) -> Option<Npy> {
        self.files.get(&id).map(|f| read_npy(&self.dir.join(f)))
    }
}

/// The dumped inputs of a model, by name.
fn dumps(root: &Path, stem: &str) -> Vec<(String, PathBuf)> {
    let dir = root.join(stem).join("dump");
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("manifest.json").is_file())
        .map(|p| {
            (
                p.file_name()
                    .expect("dir name")
                    .to_string_lossy()
                    .into_owned(),
                p,
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
#[ignore = "needs FIBHA_ORACLE_DIR, the TFLite reference-kernel dumps (scripts/test makes them and runs the ignored tests)"]
fn engine_matches_the_tflite_oracle() {
    let root = fibha_model::oracle::dump_root();
    let mut failures = String::new();
    let mut summary = String::new();
    for stem in MODELS {
        let graph = load_model(stem);
        let options = EngineOptions {
            keep_all_tensors: true,
            profile: false,
        };
        let mut engine = CpuEngine::with_options(graph.clone(), options).expect("engine");
        // The default engine shares buffers between tensors: it must give the same output.
        let mut shared = CpuEngine::new(graph.clone()).expect("engine");
        let inputs = dumps(&root, stem);
        assert!(
            !inputs.is_empty(),
            "{stem}: no dumps under {}",
            root.display()
        );
        let mut compared = 0;
        for (name, dir) in &inputs {
            let dump = Dump::open(dir);
            // (1) Layer by layer, from the interpreter's own inputs.
            for (i, node) in graph.nodes.iter().enumerate() {
                for &t in &node.inputs {
                    if graph.tensors[t].data.is_none() {
                        let golden = dump
                            .tensor(t)
                            .unwrap_or_else(|| panic!("{stem}/{name}: tensor #{t} not dumped"));
                        engine
                            .set_tensor(t, &golden.bytes)
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                }
                let out = node.outputs[0];
                let want = dump
                    .tensor(out)
                    .unwrap_or_else(|| panic!("{stem}/{name}: tensor #{out} not dumped"));
                let t = &graph.tensors[out];
                assert_eq!(
                    (want.dtype, &want.shape),
                    (t.dtype, &t.shape),
                    "{stem}/{name}: tensor #{out}"
                );
                let result = engine
                    .run_nodes(i..i + 1)
                    .and_then(|()| engine.tensor(out).map(<[u8]>::to_vec));
                let problem = match result {
                    Ok(got) => compare(t.dtype, &got, &want.bytes),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(p) = problem {
                    writeln!(
                        failures,
                        "{stem}/{name}: node #{i} ({}) -> tensor #{out}: {p}",
                        node.op.name()
                    )
                    .expect("string");
                }
                compared += 1;
            }
            // (2) End to end, from the dumped graph input.
            let input = dump.tensor(graph.inputs[0]).expect("graph input dumped");
            let output_id = graph.outputs[0];
            let want = dump.tensor(output_id).expect("graph output dumped");
            for (kind, engine) in [
                ("kept buffers", &mut engine),
                ("shared buffers", &mut shared),
            ] {
                match engine.run(&input.bytes) {
                    Ok(got) => {
                        if let Some(p) = compare(want.dtype, got, &want.bytes) {
                            writeln!(
                                failures,
                                "{stem}/{name}: end to end ({kind}), output #{output_id}: {p}"
                            )
                            .expect("string");
                        }
                    }
                    Err(e) => writeln!(failures, "{stem}/{name}: end to end ({kind}): {e}")
                        .expect("string"),
                }
            }
        }
        writeln!(
            summary,
            "{stem}: {} nodes x {} inputs = {compared} node outputs compared, plus {} end-to-end runs",
            graph.nodes.len(),
            inputs.len(),
            2 * inputs.len()
        )
        .expect("string");
    }
    eprint!("{summary}");
    assert!(
        failures.is_empty(),
        "differences from the TFLite oracle:\n{failures}"
    );
}

#[test]
fn engine_matches_the_committed_goldens() {
    let goldens = workspace().join("tests/goldens");
    let mut ran = 0;
    let models = golden_models();
    for (stem, path) in &models {
        let inputs_dir = goldens.join(stem).join("inputs");
        assert!(
            inputs_dir.is_dir(),
            "{}: the committed golden inputs are missing",
            inputs_dir.display()
        );
        let json = goldens.join(format!("{stem}.json"));
        let text =
            std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
        let graph = load_path(path);
        let options = EngineOptions {
            keep_all_tensors: true,
            profile: false,
        };
        let mut engine =
            CpuEngine::with_options(graph, options).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let mut failures = String::new();
        let inputs = doc["inputs"].as_object().expect("goldens list inputs");
        // The committed inputs and the committed digests cover each other.
        let mut on_disk: Vec<String> = std::fs::read_dir(&inputs_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|f| f.strip_suffix(".npy").map(str::to_owned))
            .collect();
        on_disk.sort();
        let listed: Vec<String> = inputs.keys().cloned().collect();
        assert!(
            !listed.is_empty() && on_disk == listed,
            "{}: inputs {on_disk:?}, digests for {listed:?}",
            json.display()
        );
        for (name, tensors) in inputs {
            let path = inputs_dir.join(format!("{name}.npy"));
            let input = read_npy(&path);
            engine
                .run(&input.bytes)
                .unwrap_or_else(|e| panic!("{stem}/{name}: {e}"));
            for (id, expected) in tensors.as_object().expect("tensors by id") {
                let id: TensorId = id.parse().expect("tensor id");
                let got = engine
                    .tensor(id)
                    .unwrap_or_else(|e| panic!("{stem}/{name}: {e}"));
                let digest: String = Sha256::digest(got)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                if Some(digest.as_str()) != expected["sha256"].as_str() {
                    let node = engine
                        .graph()
                        .nodes
                        .iter()
                        .find(|n| n.outputs.contains(&id))
                        .map_or("a graph input", |n| n.op.name());
                    writeln!(
                        failures,
                        "{stem}/{name}: tensor #{id} (written by {node}) has another SHA-256"
                    )
                    .expect("string");
                }
            }
            ran += 1;
        }
        assert!(
            failures.is_empty(),
            "differences from {}:\n{failures}",
            json.display()
        );
        eprintln!(
            "{stem}: {} inputs, every tensor's SHA-256 as committed",
            inputs.len()
        );
    }
    assert!(ran >= models.len(), "only {ran} golden inputs ran");
}
