//! The engine's tensor storage: one typed buffer per arena slot, and [`Io`], the view of
//! one step's input and output slots that a prepared kernel runs on.

use zerocopy::IntoBytes;

use crate::error::KernelError;
use crate::quant::Q8;
use fibha_model::DType;

/// A tensor's storage in the arena.
#[derive(Clone, Debug, Default)]
pub(crate) enum Buffer {
    /// The placeholder left while a step writes the slot it owns.
    #[default]
    Empty,
    I8(Vec<i8>),
    U8(Vec<u8>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
}

impl Buffer {
    /// A buffer of `len` zero elements of `dtype`.
    pub(crate) fn zeroed(dtype: DType, len: usize) -> Buffer {
        match dtype {
            DType::Int8 => Buffer::I8(vec![0; len]),
            DType::UInt8 => Buffer::U8(vec![0; len]),
            DType::Int32 => Buffer::I32(vec![0; len]),
            DType::Int64 => Buffer::I64(vec![0; len]),
            DType::Float32 => Buffer::F32(vec![0.0; len]),
        }
    }

    /// Its elements' little-endian bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Buffer::Empty => &[],
            Buffer::I8(v) => v.as_bytes(),
            Buffer::U8(v) => v.as_bytes(),
            Buffer::I32(v) => v.as_bytes(),
            Buffer::I64(v) => v.as_bytes(),
            Buffer::F32(v) => v.as_bytes(),
        }
    }

    /// Its elements' little-endian bytes, to write.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Buffer::Empty => &mut [],
            Buffer::I8(v) => v.as_mut_bytes(),
            Buffer::U8(v) => v.as_mut_bytes(),
            Buffer::I32(v) => v.as_mut_bytes(),
            Buffer::I64(v) => v.as_mut_bytes(),
            Buffer::F32(v) => v.as_mut_bytes(),
        }
    }
}

/// Typed access to 8-bit buffers.
pub(crate) trait Element: Q8 {
    /// The buffer's elements, if they are of this type.
    fn slice(b: &Buffer) -> Option<&[Self]>;
    /// The buffer's elements to write, if they are of this type.
    fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]>;
}

impl Element for i8 {
    fn slice(b: &Buffer) -> Option<&[Self]> {
        match b {
            Buffer::I8(v) => Some(v),
            _ => None,
        }
    }
    fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]> {
        match b {
            Buffer::I8(v) => Some(v),
            _ => None,
        }
    }
}

impl Element for u8 {
    fn slice(b: &Buffer) -> Option<&[Self]> {
        match b {
            Buffer::U8(v) => Some(v),
            _ => None,
        }
    }
    fn slice_mut(b: &mut Buffer) -> Option<&mut [Self]> {
        match b {
            Buffer::U8(v) => Some(v),
            _ => None,
        }
    }
}

/// The buffers one step reads and the one it writes.
pub(crate) struct Io<'a> {
    buffers: &'a [Buffer],
    inputs: &'a [usize],
    out: &'a mut Buffer,
}

impl<'a> Io<'a> {
    /// The step reading the slots `inputs` of `buffers` and writing `out`.
    pub(crate) fn new(buffers: &'a [Buffer], inputs: &'a [usize], out: &'a mut Buffer) -> Self {
        Io {
            buffers,
            inputs,
            out,
        }
    }

    /// Its input `k`.
    pub(crate) fn input(&self, k: usize) -> &'a Buffer {
        &self.buffers[self.inputs[k]]
    }

    /// Its output.
    pub(crate) fn output(&mut self) -> &mut Buffer {
        self.out
    }

    /// Its input `k` as 8-bit elements of type `T`.
    pub(crate) fn input_8bit<T: Element>(&self, k: usize) -> Result<&'a [T], KernelError> {
        T::slice(self.input(k)).ok_or_else(mismatch)
    }

    /// Its output as 8-bit elements of type `T`.
    pub(crate) fn output_8bit<T: Element>(&mut self) -> Result<&mut [T], KernelError> {
        T::slice_mut(self.out).ok_or_else(mismatch)
    }
}

/// The error for a buffer of the wrong type (a planning bug, never a user error).
pub(crate) fn mismatch() -> KernelError {
    KernelError::InvalidParams {
        kernel: "engine",
        detail: "a buffer has another element type than its tensor".into(),
    }
}
