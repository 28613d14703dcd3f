//! Top-k classification from a model's raw output tensor.

use fibha_model::{DType, Tensor};
use serde::Serialize;

/// One ranked class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// 1 for the most likely class.
    pub rank: usize,
    /// Index into the model's output (ImageNet: 0 = background).
    pub index: usize,
    /// The class's label.
    pub label: String,
    /// The dequantized output value (a probability for softmax outputs).
    pub score: f32,
    /// The raw output element (the quantized integer, or the float for float outputs).
    pub raw: f64,
}

/// Raw and dequantized values of output element `i`.
fn value(output: &Tensor, bytes: &[u8], i: usize) -> (f64, f32) {
    let quantized = |q: i32| {
        let zp = output.quant.as_ref().map_or(0, |q| q.zero_point());
        let scale = output.quant.as_ref().map_or(1.0, |q| q.scale());
        (f64::from(q), scale * (q - zp) as f32)
    };
    match output.dtype {
        DType::UInt8 => quantized(i32::from(bytes[i])),
        DType::Int8 => quantized(i32::from(bytes[i] as i8)),
        DType::Float32 => {
            let v = f32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
            (f64::from(v), v)
        }
        // Integer outputs (e.g. int32 logits) rank by their values, scaled where quantized.
        DType::Int32 => quantized(i32::from_le_bytes(
            bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"),
        )),
        DType::Int64 => {
            let v = i64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes"));
            (v as f64, v as f32)
        }
    }
}

/// The `k` highest outputs, best first; ties keep the lower index first.
pub fn top_k(output: &Tensor, bytes: &[u8], labels: &[String], k: usize) -> Vec<Prediction> {
    let n = output.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        value(output, bytes, b)
            .0
            .total_cmp(&value(output, bytes, a).0)
            .then(a.cmp(&b))
    });
    order
        .into_iter()
        .take(k)
        .enumerate()
        .map(|(r, index)| {
            let (raw, score) = value(output, bytes, index);
            Prediction {
                rank: r + 1,
                index,
                label: labels.get(index).cloned().unwrap_or_default(),
                score,
                raw,
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use fibha_model::Quantization;

    /// A `[1, classes]` uint8 probability tensor with TFLite's softmax scale 1/256.
    pub(crate) fn probabilities(name: &str, classes: usize) -> Tensor {
        Tensor {
            name: name.into(),
            shape: vec![1, classes],
            dtype: DType::UInt8,
            quant: Some(Quantization {
                scales: vec![1.0 / 256.0],
                zero_points: vec![0],
                axis: 0,
            }),
            data: None,
        }
    }

    #[test]
    fn ranks_by_raw_value_and_dequantizes() {
        let output = probabilities("probs", 4);
        let labels: Vec<String> = ["bg", "cat", "dog", "bird"].map(String::from).to_vec();
        let top = top_k(&output, &[3, 128, 200, 128], &labels, 3);
        assert_eq!(top.iter().map(|p| p.index).collect::<Vec<_>>(), [2, 1, 3]);
        assert_eq!(
            (top[0].label.as_str(), top[0].score, top[0].raw),
            ("dog", 200.0 / 256.0, 200.0)
        );
    }

    #[test]
    fn integer_outputs_rank_by_value() {
        // int32 logits [-5, 70000, 3], unquantized; int64 [9, -1].
        let mut logits = probabilities("logits", 3);
        logits.dtype = DType::Int32;
        logits.quant = None;
        let bytes: Vec<u8> = [-5i32, 70_000, 3]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let top = top_k(&logits, &bytes, &[], 2);
        assert_eq!(
            top.iter().map(|p| (p.index, p.raw)).collect::<Vec<_>>(),
            [(1, 70_000.0), (2, 3.0)]
        );
        logits.dtype = DType::Int64;
        logits.shape = vec![1, 2];
        let bytes: Vec<u8> = [9i64, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(top_k(&logits, &bytes, &[], 1)[0].raw, 9.0);
    }
}
