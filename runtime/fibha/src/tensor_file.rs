//! Raw tensors in NumPy `.npy` files: how `fibha run` exchanges tensors with other engines.
//!
//! A tensor file must have exactly the model tensor's element type and shape, and be exactly
//! its header followed by the tensor's bytes: the data is read from just after the header,
//! and a file of any other size (cut short, or with bytes after the data) is refused naming
//! both sizes. Anything else is refused with an error naming the file, what it holds and
//! what the model needs. A header longer than [`MAX_HEADER_BYTES`] is not a NumPy header.

use std::io::{BufWriter, Read};
use std::path::Path;

use fibha_model::{DType, Tensor};
use npyz::WriterBuilder;

/// The longest header read: NumPy writes headers of a few hundred bytes, and a version 1
/// header cannot exceed 10 + 65,535 bytes.
pub const MAX_HEADER_BYTES: u64 = 10 + 65_535;

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
    /// The file is not exactly its header followed by the tensor's bytes.
    #[error(
        "{path}: {found} bytes, but its {header}-byte header and the {data} bytes of {dtype} {shape:?} make {} bytes: the file is {}",
        header + data,
        if found < &(header + data) { "cut short" } else { "longer than its data" }
    )]
    Size {
        /// The file.
        path: String,
        /// Its size.
        found: u64,
        /// The header's size.
        header: u64,
        /// The tensor's bytes.
        data: u64,
        /// Element type.
        dtype: DType,
        /// Shape.
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
/// in the tensor's little-endian C order: exactly the bytes after the header, which must
/// end the file.
pub fn read_npy(
    path: &Path,
    tensor: &Tensor,
    what: &'static str,
) -> Result<Vec<u8>, TensorFileError> {
    let shown = path.display().to_string();
    let io = |error| TensorFileError::Io {
        path: shown.clone(),
        error,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let found = file.metadata().map_err(io)?.len();
    let mut head = Vec::new();
    (&mut file)
        .take(MAX_HEADER_BYTES)
        .read_to_end(&mut head)
        .map_err(io)?;
    let (header_len, header) = parse_header(&head).map_err(|detail| TensorFileError::Format {
        path: shown.clone(),
        detail,
    })?;
    check_header(&header, tensor, what, &shown)?;
    let data = tensor.byte_len() as u64;
    let size_error = |found| TensorFileError::Size {
        path: shown.clone(),
        found,
        header: header_len,
        data,
        dtype: tensor.dtype,
        shape: tensor.shape.clone(),
    };
    if found != header_len + data {
        return Err(size_error(found));
    }
    // The size was checked, so this reads at most the model's input; a file that changes
    // meanwhile is caught by the length check below.
    let mut bytes = head;
    file.take(data + 1).read_to_end(&mut bytes).map_err(io)?;
    let read = bytes.len() as u64;
    if read != header_len + data {
        return Err(size_error(read));
    }
    Ok(bytes.split_off(header_len as usize))
}

/// The header's length and what it says, from the first bytes of a file.
fn parse_header(head: &[u8]) -> Result<(u64, npyz::NpyHeader), String> {
    let len = header_len(head)?;
    check_shape_fits(&head[..len])?;
    let mut rest = &head[..len];
    let header = npyz::NpyHeader::from_reader(&mut rest).map_err(|e| e.to_string())?;
    Ok((len as u64, header))
}

/// The whole header's length from its preamble (magic, version, header length), checked
/// against what was read, before the NumPy reader allocates the length it is told.
fn header_len(head: &[u8]) -> Result<usize, String> {
    const MAGIC: &[u8] = b"\x93NUMPY";
    if !head.starts_with(MAGIC) {
        return Err("no NumPy magic \\x93NUMPY at the start".into());
    }
    let (preamble, text) = match (head.get(6), head.get(8..12)) {
        (Some(1), Some(len)) => (10, u64::from(u16::from_le_bytes([len[0], len[1]]))),
        (Some(2 | 3), Some(len)) => (
            12,
            u64::from(u32::from_le_bytes([len[0], len[1], len[2], len[3]])),
        ),
        (Some(version), Some(_)) => {
            return Err(format!("format version {version} is not 1, 2 or 3"));
        }
        _ => return Err("the file ends inside the header".into()),
    };
    let len = preamble + text;
    if len > MAX_HEADER_BYTES {
        return Err(format!(
            "a header of {len} bytes; NumPy's are at most {MAX_HEADER_BYTES}"
        ));
    }
    if len > head.len() as u64 {
        return Err(format!(
            "the header says it is {len} bytes, the file has {}",
            head.len()
        ));
    }
    Ok(len as usize)
}

/// Refuses a `shape` whose element count overflows 64 bits (the NumPy reader multiplies
/// the dimensions unchecked). Anything that is not a plain tuple of numbers is left to it.
fn check_shape_fits(header: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(header);
    let Some(at) = text.find("shape") else {
        return Ok(());
    };
    let after = &text[at..];
    let (Some(open), Some(close)) = (after.find(['(', '[']), after.find([')', ']'])) else {
        return Ok(());
    };
    if close < open {
        return Ok(());
    }
    let dims: Option<Vec<u64>> = after[open + 1..close]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().ok())
        .collect();
    let fits = dims.is_none_or(|dims| {
        dims.iter()
            .try_fold(8u64, |acc, &d| acc.checked_mul(d))
            .is_some()
    });
    if fits {
        Ok(())
    } else {
        Err(format!(
            "shape {} has more elements than any file can hold",
            &after[open..=close]
        ))
    }
}

/// Refuses a header whose dtype, shape or order is not the model tensor's.
fn check_header(
    header: &npyz::NpyHeader,
    tensor: &Tensor,
    what: &'static str,
    shown: &str,
) -> Result<(), TensorFileError> {
    let got_dtype = match header.dtype() {
        npyz::DType::Plain(type_str) => type_str.to_string(),
        other => other.descr(),
    };
    let got_shape = header.shape().to_vec();
    let want_shape: Vec<u64> = tensor.shape.iter().map(|&d| d as u64).collect();
    let c_order = header.order() == npyz::Order::C;
    if got_dtype == descr(tensor.dtype) && got_shape == want_shape && c_order {
        return Ok(());
    }
    Err(TensorFileError::Mismatch {
        path: shown.to_owned(),
        what,
        got_dtype: if c_order {
            got_dtype
        } else {
            format!("{got_dtype} (Fortran order)")
        },
        got_shape,
        dtype: tensor.dtype,
        shape: tensor.shape.clone(),
    })
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

    /// A file of `tensor` holding `data`, as NumPy would write it.
    fn npy_bytes(dir: &Path, tensor: &Tensor, data: &[u8]) -> Vec<u8> {
        let path = dir.join("reference.npy");
        write_npy(&path, tensor, data).unwrap();
        std::fs::read(path).unwrap()
    }

    #[test]
    fn a_file_cut_short_or_with_trailing_bytes_is_refused_naming_both_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let t = tensor(DType::Int8, &[1, 16, 16, 3]);
        let good = npy_bytes(dir.path(), &t, &[7; 768]);
        let header = good.len() - 768;
        let path = dir.path().join("x.npy");
        for (bytes, found, how) in [
            (
                good[..good.len() - 100].to_vec(),
                good.len() - 100,
                "cut short",
            ),
            (
                [&good[..], &[0; 100]].concat(),
                good.len() + 100,
                "longer than its data",
            ),
        ] {
            std::fs::write(&path, bytes).unwrap();
            let err = read_npy(&path, &t, "input").unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "{}: {found} bytes, but its {header}-byte header and the 768 bytes of int8 [1, 16, 16, 3] make {} bytes: the file is {how}",
                    path.display(),
                    good.len()
                )
            );
        }
    }

    #[test]
    fn the_data_is_the_bytes_after_the_header_not_the_last_bytes() {
        // A longer header than NumPy writes (padding is allowed): the data still starts
        // right after it.
        let dir = tempfile::tempdir().unwrap();
        let text = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 4), }";
        let mut header = format!("{text:<118}\n").into_bytes();
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        file.extend_from_slice(&(header.len() as u16).to_le_bytes());
        file.append(&mut header);
        file.extend_from_slice(&[1, 2, 3, 4]);
        let path = dir.path().join("x.npy");
        std::fs::write(&path, &file).unwrap();
        let data = read_npy(&path, &tensor(DType::UInt8, &[1, 4]), "input").unwrap();
        assert_eq!(data, [1, 2, 3, 4]);
    }

    #[test]
    fn headers_that_claim_too_much_are_refused_before_any_allocation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let t = tensor(DType::UInt8, &[1]);
        let huge = [b"\x93NUMPY\x02\x00".as_slice(), &u32::MAX.to_le_bytes()].concat();
        std::fs::write(&path, huge).unwrap();
        let err = read_npy(&path, &t, "input").unwrap_err().to_string();
        assert!(err.contains("NumPy's are at most"), "{err}");
        let text =
            "{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n";
        let file = [
            b"\x93NUMPY\x01\x00".as_slice(),
            &(text.len() as u16).to_le_bytes(),
            text.as_bytes(),
        ]
        .concat();
        std::fs::write(&path, file).unwrap();
        let err = read_npy(&path, &t, "input").unwrap_err().to_string();
        assert!(
            err.contains("more elements than any file can hold"),
            "{err}"
        );
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn dtypes() -> impl Strategy<Value = DType> {
            prop_oneof![
                Just(DType::Int8),
                Just(DType::UInt8),
                Just(DType::Int32),
                Just(DType::Int64),
                Just(DType::Float32),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(fibha_model::fuzz::cases()))]

            /// Any tensor written reads back byte for byte; any edit of its file (a byte
            /// changed, bytes cut or added) is refused naming the file, or reads back the
            /// data region of the edited file exactly (an edit inside the data, or one the
            /// header's grammar allows).
            #[test]
            fn npy_files_round_trip_and_every_edit_is_exact_or_refused(
                dtype in dtypes(),
                shape in prop::collection::vec(1usize..5, 1..4),
                seed in any::<u8>(),
                edit in prop_oneof![
                    (any::<usize>(), any::<u8>()).prop_map(|(at, v)| (0, at, v)),
                    (1usize..200).prop_map(|n| (1, n, 0)),
                    (1usize..200, any::<u8>()).prop_map(|(n, v)| (2, n, v)),
                ],
            ) {
                let dir = tempfile::tempdir().unwrap();
                let t = tensor(dtype, &shape);
                let data: Vec<u8> = (0..t.byte_len()).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
                let good = npy_bytes(dir.path(), &t, &data);
                let path = dir.path().join("x.npy");
                std::fs::write(&path, &good).unwrap();
                prop_assert_eq!(read_npy(&path, &t, "input").unwrap(), data.clone());

                let mut bytes = good.clone();
                match edit {
                    (0, at, v) => { let at = at % bytes.len(); bytes[at] = v; }
                    (1, n, _) => bytes.truncate(bytes.len().saturating_sub(n)),
                    (_, n, v) => bytes.extend(std::iter::repeat_n(v, n)),
                }
                std::fs::write(&path, &bytes).unwrap();
                match read_npy(&path, &t, "input") {
                    Ok(read) => {
                        prop_assert_eq!(bytes.len(), good.len());
                        prop_assert_eq!(&read[..], &bytes[good.len() - data.len()..]);
                    }
                    Err(err) => {
                        let text = err.to_string();
                        prop_assert!(text.starts_with(&format!("{}: ", path.display())), "{}", text);
                    }
                }
            }

            /// Arbitrary bytes after the magic never panic and never read more than the
            /// model's tensor.
            #[test]
            fn arbitrary_headers_never_panic(tail in prop::collection::vec(any::<u8>(), 0..300)) {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("x.npy");
                std::fs::write(&path, [b"\x93NUMPY".as_slice(), &tail].concat()).unwrap();
                let t = tensor(DType::UInt8, &[1, 2]);
                if let Ok(read) = read_npy(&path, &t, "input") {
                    prop_assert_eq!(read.len(), 2);
                }
            }
        }
    }
}
