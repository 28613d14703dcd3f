//! Where the workspace's tests find TensorFlow Lite's reference-kernel dumps (the oracle of
//! every bit-exactness claim): `FIBHA_ORACLE_DIR`, written by `tests/oracle/tflite_oracle.py
//! dump` (`scripts/test` makes them in `target/oracle` and sets it).

use std::path::PathBuf;

/// The dump root, `$FIBHA_ORACLE_DIR/<model stem>/dump/<input>/t<id>.npy`.
///
/// # Panics
/// When `FIBHA_ORACLE_DIR` is not set: a test that needs the oracle fails, saying what to
/// set, rather than passing without it.
pub fn dump_root() -> PathBuf {
    std::env::var_os("FIBHA_ORACLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "FIBHA_ORACLE_DIR is not set: set it to the dumps of `tests/oracle/tflite_oracle.py dump` \
                 (scripts/test makes them in target/oracle and sets it)"
            )
        })
}
