//! The accelerator's register map, as the virtual board uses it.
//!
//! Offsets and bit fields come from the generated map (`hls/regmap.toml` ->
//! `hls/scripts/gen_regmap.py` -> `fibha_model::device`), re-exported here so that nothing
//! is typed twice; the ap_ctrl_hs behaviour is [`fibha_model::handshake`].

pub use fibha_model::device::*;

/// A status word: `error` set and `code` with the layer field 0xFFFF ("not about one layer").
pub fn error_status(code: StatusCode) -> u32 {
    let word = status::ERROR.put(0, 1);
    let word = status::CODE.put(word, code as u32);
    status::LAYER.put(word, 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_status_packs_the_fields() {
        assert_eq!(error_status(StatusCode::AddressUnmapped), 0xFFFF_1101);
    }
}
