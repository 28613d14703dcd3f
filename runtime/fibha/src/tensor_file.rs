//! Raw tensors in NumPy `.npy` files: how `fibha run` exchanges tensors with other engines.
//!
//! A tensor file must have exactly the model tensor's element type and shape; anything else
//! is refused with an error naming the file, what it holds and what the model needs.

use std::io::BufWriter;
use std::path::Path;

use fibha_model::{DType, Tensor};
use npyz::WriterBuilder;

/// Why a tensor file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TensorFileError {
    /// The file could not be opened, read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The file is not a NumPy array file.
    #[error("{path}: not a .npy file ({detail})")]
    Format {
        /// The file.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// The array does not fit the model tensor.
    #[error("{path}: holds {got_dtype} {got_shape:?}, the model's {what} is {dtype} {shape:?}")]
    Mismatch {
        /// The file.
        path: String,
        /// Which model tensor it was meant for.
        what: &'static str,
        /// Element type found in the file.
        got_dtype: String,
        /// Shape found in the file.
        got_shape: Vec<u64>,
        /// Element type the model needs.
        dtype: DType,
        /// Shape the model needs.
        shape: Vec<usize>,
    },
}

fn descr(dtype: DType) -> &'static str {
    match dtype {
        DType::Int8 => "|i1",
        DType::UInt8 => "|u1",
        DType::Int32 => "<i4",
        DType::Int64 => "<i8",
        DType::Float32 => "<f4",
    }
}

/// Reads a `.npy` file whose dtype and shape must be those of `tensor`; returns its bytes
/// in the tensor's little-endian C order.
pub fn read_npy(
    path: &Path,
    tensor: &Tensor,
    what: &'static str,
) -> Result<Vec<u8>, TensorFileError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| TensorFileError::Io {
        path: shown.clone(),
        error,
    })?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| TensorFileError::Format {
        path: shown.clone(),
        detail: e.to_string(),
    })?;
    let header = npy.header();
    let got_dtype = match header.dtype() {
        npyz::DType::Plain(type_str) => type_str.to_string(),
        other => other.descr(),
    };
    let got_shape = header.shape().to_vec();
    let want_shape: Vec<u64> = tensor.shape.iter().map(|&d| d as u64).collect();
    let c_order = header.order() == npyz::Order::C;
    if got_dtype != descr(tensor.dtype) || got_shape != want_shape || !c_order {
        return Err(TensorFileError::Mismatch {
            path: shown,
            what,
            got_dtype: if c_order {
                got_dtype
            } else {
                format!("{got_dtype} (Fortran order)")
            },
            got_shape,
            dtype: tensor.dtype,
            shape: tensor.shape.clone(),
        });
    }
    let data_len = tensor.byte_len();
    let start = bytes
        .len()
        .checked_sub(data_len)
        .filter(|_| bytes.len() >= data_len);
    match start {
        Some(start) => Ok(bytes[start..].to_vec()),
        None => Err(TensorFileError::Format {
            path: shown,
            detail: format!(
                "{} bytes, too short for {data_len} bytes of data",
                bytes.len()
            ),
        }),
    }
}

/// Writes `data` (the tensor's little-endian bytes) as a `.npy` file with the tensor's
/// dtype and shape.
pub fn write_npy(path: &Path, tensor: &Tensor, data: &[u8]) -> Result<(), TensorFileError> {
    let shown = path.display().to_string();
    let io = |error| TensorFileError::Io {
        path: shown.clone(),
        error,
    };
    let file = BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let shape: Vec<u64> = tensor.shape.iter().map(|&d| d as u64).collect();
    match tensor.dtype {
        DType::UInt8 => write_typed(file, &shape, data.iter().copied()),
        DType::Int8 => write_typed(file, &shape, data.iter().map(|&b| b as i8)),
        DType::Int32 => write_typed(file, &shape, le_words::<4>(data).map(i32::from_le_bytes)),
        DType::Int64 => write_typed(file, &shape, le_words::<8>(data).map(i64::from_le_bytes)),
        DType::Float32 => write_typed(file, &shape, le_words::<4>(data).map(f32::from_le_bytes)),
    }
    .map_err(io)
}

fn le_words<const N: usize>(data: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    data.chunks_exact(N)
        .map(|c| c.try_into().expect("chunks of N bytes"))
}

fn write_typed<T: npyz::AutoSerialize>(
    out: impl std::io::Write,
    shape: &[u64],
    values: impl Iterator<Item = T>,
) -> std::io::Result<()> {
    let mut writer = npyz::WriteOptions::<T>::new()
        .default_dtype()
        .shape(shape)
        .writer(out)
        .begin_nd()?;
    writer.extend(values)?;
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dtype: DType, shape: &[usize]) -> Tensor {
        Tensor {
            name: "t".into(),
            shape: shape.to_vec(),
            dtype,
            quant: None,
            data: None,
        }
    }

    #[test]
    fn round_trips_every_dtype_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        for dtype in [
            DType::Int8,
            DType::UInt8,
            DType::Int32,
            DType::Int64,
            DType::Float32,
        ] {
            let t = tensor(dtype, &[2, 3]);
            let data: Vec<u8> = (0..t.byte_len()).map(|i| (i * 37 % 251) as u8).collect();
            let path = dir.path().join(format!("{dtype}.npy"));
            write_npy(&path, &t, &data).unwrap();
            assert_eq!(read_npy(&path, &t, "input").unwrap(), data, "{dtype}");
        }
    }

    #[test]
    fn wrong_dtype_or_shape_names_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy(&path, &tensor(DType::Float32, &[1, 4]), &[0; 16]).unwrap();
        let err = read_npy(&path, &tensor(DType::UInt8, &[1, 2, 2, 1]), "input").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: holds <f4 [1, 4], the model's input is uint8 [1, 2, 2, 1]",
                path.display()
            )
        );
    }

    #[test]
    fn a_non_npy_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        std::fs::write(&path, b"hello").unwrap();
        let err = read_npy(&path, &tensor(DType::UInt8, &[1]), "input").unwrap_err();
        assert!(err.to_string().contains("not a .npy file"), "{err}");
    }
}
