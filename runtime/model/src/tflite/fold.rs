//! Shape arithmetic on static shapes, folded into constants at import.
//!
//! TensorFlow's converter writes a reshape whose target mentions the batch dimension
//! (Keras's `Reshape` and `Flatten` under a `None` batch) as SHAPE -> STRIDED_SLICE -> PACK
//! -> RESHAPE. fibha's graphs have static shapes, so these operators' results are known
//! when the model is read: each is evaluated here, in graph order, its output becomes a
//! constant tensor, and the operator leaves the graph (listed in [`Graph::folded`], so a
//! plan can say so). An operator of this kind that reads a tensor known only at run time
//! computes from the image's data, which fibha does not run: it is refused with its index.
//!
//! [`Graph::folded`]: crate::ir::Graph::folded

use super::schema::BuiltinOptionsRef;
use super::{Importer, RawOp, Result, code};
use crate::ir::{DType, FoldedOp, Tensor};

/// Operators that only ever compute on shapes and small integer constants.
const SHAPE_OPS: [i32; 5] = [
    code::SHAPE,
    code::STRIDED_SLICE,
    code::PACK,
    code::GATHER,
    code::CAST,
];

/// Whether `code` is an operator fibha folds at import rather than runs.
pub(super) fn is_shape_op(code: i32) -> bool {
    SHAPE_OPS.contains(&code)
}

/// Whether `op` is shape arithmetic: one of [`SHAPE_OPS`], or a CONCATENATION of integers
/// (shape vectors; one of 8-bit activations is a layer).
fn folds(op: &RawOp<'_>, tensors: &[Tensor]) -> bool {
    is_shape_op(op.code)
        || (op.code == code::CONCATENATION
            && op
                .outputs
                .first()
                .is_some_and(|&o| is_integer(tensors[o].dtype)))
}

fn is_integer(dtype: DType) -> bool {
    matches!(dtype, DType::Int32 | DType::Int64)
}

/// A folded operator's result: its values and their shape.
struct Folded {
    values: Vec<i64>,
    shape: Vec<usize>,
}

impl Importer {
    /// Evaluates the shape arithmetic of `ops` into `tensors` and returns the operators
    /// left to run, with the ones folded.
    pub(super) fn fold_shape_arithmetic<'a>(
        &self,
        ops: Vec<RawOp<'a>>,
        tensors: &mut [Tensor],
    ) -> Result<(Vec<RawOp<'a>>, Vec<FoldedOp>)> {
        let mut kept = Vec::with_capacity(ops.len());
        let mut folded = Vec::new();
        for op in ops {
            if !folds(&op, tensors) {
                kept.push(op);
                continue;
            }
            let folder = Folder {
                imp: self,
                op: &op,
                tensors,
            };
            folder.fold()?;
            folded.push(FoldedOp {
                index: op.index,
                op: op.name.clone(),
            });
        }
        Ok((kept, folded))
    }
}

/// Evaluates one shape operator.
struct Folder<'i, 'o, 'a, 't> {
    imp: &'i Importer,
    op: &'o RawOp<'a>,
    tensors: &'t mut [Tensor],
}

impl Folder<'_, '_, '_, '_> {
    fn err(&self, detail: impl Into<String>) -> super::ImportError {
        self.imp.op_error(self.op, detail)
    }

    fn fold(self) -> Result<()> {
        let [out] = self.op.outputs[..] else {
            return Err(self.err(format!("has {} outputs, expected 1", self.op.outputs.len())));
        };
        if !is_integer(self.tensors[out].dtype) {
            return Err(self.err(format!(
                "writes '{}' of {}: fibha folds shape arithmetic on int32/int64 only",
                self.tensors[out].name, self.tensors[out].dtype
            )));
        }
        let folded = match self.op.code {
            code::SHAPE => {
                let shape = &self.tensors[self.input(0)?].shape;
                Folded {
                    values: shape.iter().map(|&d| d as i64).collect(),
                    shape: vec![shape.len()],
                }
            }
            code::STRIDED_SLICE => self.strided_slice()?,
            code::PACK => self.pack()?,
            code::CONCATENATION => self.concatenation()?,
            code::GATHER => self.gather()?,
            code::CAST => {
                let (values, shape) = self.constant(0)?;
                Folded { values, shape }
            }
            _ => unreachable!("folds() admits only the operators matched here"),
        };
        self.store(out, folded)
    }

    fn input(&self, i: usize) -> Result<usize> {
        self.op
            .input(i)
            .ok_or_else(|| self.err(format!("input {i} is missing")))
    }

    /// Input `i`, which must be an integer constant (or already folded).
    fn constant(&self, i: usize) -> Result<(Vec<i64>, Vec<usize>)> {
        let t = &self.tensors[self.input(i)?];
        if t.data.is_none() {
            return Err(self.err(format!(
                "input {i} '{}' is computed from the image at run time: fibha folds shape \
                 arithmetic on static shapes only and does not run shapes computed from data",
                t.name
            )));
        }
        let values = t.data_ints().ok_or_else(|| {
            self.err(format!(
                "input {i} '{}' is {}: fibha folds shape arithmetic on int32/int64 only",
                t.name, t.dtype
            ))
        })?;
        Ok((values, t.shape.clone()))
    }

    /// The values of input `i`, which must hold `len` of them.
    fn vector(&self, i: usize, len: usize, what: &str) -> Result<Vec<i64>> {
        let (values, _) = self.constant(i)?;
        if values.len() == len {
            Ok(values)
        } else {
            Err(self.err(format!(
                "{what} has {} values, expected {len}",
                values.len()
            )))
        }
    }

    /// An axis in `[-rank, rank)`, made non-negative.
    fn axis(&self, axis: i64, rank: usize) -> Result<usize> {
        let r = rank as i64;
        if (-r..r).contains(&axis) {
            Ok(axis.rem_euclid(r.max(1)) as usize)
        } else {
            Err(self.err(format!("axis {axis} is outside a rank-{rank} tensor")))
        }
    }

    /// STRIDED_SLICE of a vector (a shape), with TFLite's begin, end, shrink and offset
    /// semantics; ellipsis and new axes are not shape arithmetic converters write.
    fn strided_slice(&self) -> Result<Folded> {
        let Some(BuiltinOptionsRef::StridedSliceOptions(o)) = self.op.options else {
            return Err(self.err("missing StridedSliceOptions"));
        };
        let (data, shape) = self.constant(0)?;
        if shape.len() != 1 {
            return Err(self.err(format!(
                "slices a constant of shape {shape:?}; fibha folds slices of shape vectors (rank 1)"
            )));
        }
        if o.ellipsis_mask()? != 0 || o.new_axis_mask()? != 0 {
            return Err(self.err("ellipsis and new-axis masks are not folded"));
        }
        let [begin] = self.vector(1, 1, "begin")?[..] else {
            unreachable!("vector() checked the length")
        };
        let [end] = self.vector(2, 1, "end")?[..] else {
            unreachable!("vector() checked the length")
        };
        let [stride] = self.vector(3, 1, "strides")?[..] else {
            unreachable!("vector() checked the length")
        };
        if stride == 0 {
            return Err(self.err("stride 0"));
        }
        let n = data.len() as i64;
        // The index range a bound may take: [0, n] going up, [-1, n - 1] going down.
        let (lo, hi) = if stride > 0 { (0, n) } else { (-1, n - 1) };
        let clamp = |v: i64| (if v < 0 { v + n } else { v }).clamp(lo, hi);
        let start = if o.begin_mask()? & 1 != 0 {
            if stride > 0 { 0 } else { n - 1 }
        } else {
            clamp(begin)
        };
        let shrink = o.shrink_axis_mask()? & 1 != 0;
        let stop = if shrink {
            start + 1
        } else if o.offset()? {
            (start + end).clamp(lo, hi)
        } else if o.end_mask()? & 1 != 0 {
            if stride > 0 { n } else { -1 }
        } else {
            clamp(end)
        };
        let mut values = Vec::new();
        let mut i = start;
        while (stride > 0 && i < stop) || (stride < 0 && i > stop) {
            let element = usize::try_from(i)
                .ok()
                .and_then(|i| data.get(i))
                .ok_or_else(|| self.err(format!("index {i} is outside a vector of {n}")))?;
            values.push(*element);
            i += stride;
        }
        let shape = if shrink {
            if values.len() != 1 {
                return Err(self.err(format!("shrinks to {} values, expected 1", values.len())));
            }
            Vec::new()
        } else {
            vec![values.len()]
        };
        Ok(Folded { values, shape })
    }

    /// Every input, as (values, shape); all must have `shape` when given.
    fn inputs(&self) -> Result<Vec<(Vec<i64>, Vec<usize>)>> {
        if self.op.inputs.is_empty() {
            return Err(self.err("has no inputs"));
        }
        (0..self.op.inputs.len())
            .map(|i| self.constant(i))
            .collect()
    }

    /// Joins `parts` along `axis` (their other dimensions equal): PACK and CONCATENATION.
    fn join(&self, parts: &[(Vec<i64>, Vec<usize>)], axis: usize) -> Result<Folded> {
        let first = &parts[0].1;
        let outer: usize = first[..axis].iter().product();
        let mut shape = first.clone();
        shape[axis] = 0;
        for (_, s) in parts {
            let matches = s.len() == first.len()
                && s.iter()
                    .zip(first)
                    .enumerate()
                    .all(|(d, (a, b))| d == axis || a == b);
            if !matches {
                return Err(self.err(format!(
                    "joins shapes {first:?} and {s:?} along axis {axis}"
                )));
            }
            shape[axis] += s[axis];
        }
        let mut values = Vec::with_capacity(shape.iter().product());
        for o in 0..outer {
            for (v, s) in parts {
                let inner: usize = s[axis..].iter().product();
                values.extend_from_slice(&v[o * inner..(o + 1) * inner]);
            }
        }
        Ok(Folded { values, shape })
    }

    fn pack(&self) -> Result<Folded> {
        let Some(BuiltinOptionsRef::PackOptions(o)) = self.op.options else {
            return Err(self.err("missing PackOptions"));
        };
        let mut parts = self.inputs()?;
        let rank = parts[0].1.len() + 1;
        let axis = self.axis(i64::from(o.axis()?), rank)?;
        // Packing is joining along a new axis of size 1.
        for (_, shape) in &mut parts {
            if shape.len() + 1 != rank {
                return Err(self.err("packs inputs of different ranks"));
            }
            shape.insert(axis, 1);
        }
        self.join(&parts, axis)
    }

    fn concatenation(&self) -> Result<Folded> {
        let Some(BuiltinOptionsRef::ConcatenationOptions(o)) = self.op.options else {
            return Err(self.err("missing ConcatenationOptions"));
        };
        let parts = self.inputs()?;
        let axis = self.axis(i64::from(o.axis()?), parts[0].1.len())?;
        self.join(&parts, axis)
    }

    fn gather(&self) -> Result<Folded> {
        let Some(BuiltinOptionsRef::GatherOptions(o)) = self.op.options else {
            return Err(self.err("missing GatherOptions"));
        };
        if o.batch_dims()? != 0 {
            return Err(self.err("batch_dims is not 0"));
        }
        let (params, shape) = self.constant(0)?;
        let (indices, index_shape) = self.constant(1)?;
        let axis = self.axis(i64::from(o.axis()?), shape.len())?;
        let outer: usize = shape[..axis].iter().product();
        let inner: usize = shape[axis + 1..].iter().product();
        let mut values = Vec::with_capacity(outer * indices.len() * inner);
        for o in 0..outer {
            for &index in &indices {
                let j = usize::try_from(index)
                    .ok()
                    .filter(|&j| j < shape[axis])
                    .ok_or_else(|| {
                        self.err(format!(
                            "index {index} is outside axis {axis} of size {}",
                            shape[axis]
                        ))
                    })?;
                let at = (o * shape[axis] + j) * inner;
                values.extend_from_slice(&params[at..at + inner]);
            }
        }
        let shape = [&shape[..axis], &index_shape[..], &shape[axis + 1..]].concat();
        Ok(Folded { values, shape })
    }

    /// Writes `folded` into the output tensor, which must declare the shape it has.
    fn store(self, out: usize, folded: Folded) -> Result<()> {
        let t = &self.tensors[out];
        if t.shape != folded.shape {
            return Err(self.err(format!(
                "'{}' declares shape {:?}, its inputs give {:?}",
                t.name, t.shape, folded.shape
            )));
        }
        let data = match t.dtype {
            DType::Int32 => {
                let mut bytes = Vec::with_capacity(folded.values.len() * 4);
                for &v in &folded.values {
                    let v = i32::try_from(v).map_err(|_| {
                        self.err(format!("{v} does not fit the int32 output '{}'", t.name))
                    })?;
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                bytes
            }
            _ => folded.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        self.tensors[out].data = Some(data);
        Ok(())
    }
}
