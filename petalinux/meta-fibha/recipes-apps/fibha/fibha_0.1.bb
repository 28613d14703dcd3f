# The fibha runtime built from the checkout this layer lives in (FIBHA_REPO_DIR), with the
# crates of Cargo.lock fetched by BitBake (fibha-crates.inc; regenerate it with
# scripts/gen-crate-uris.py after Cargo.lock changes).

require fibha.inc
require fibha-crates.inc

inherit externalsrc cargo

EXTERNALSRC = "${FIBHA_REPO_DIR}"
# Keep cargo's target/ out of the checkout.
EXTERNALSRC_BUILD = "${WORKDIR}/build"

# The workspace's rust-version (Cargo.toml) must not exceed the Rust this build uses;
# langdale's own Rust is older. Skipping the recipe makes `bitbake fibha` say so up front
# instead of failing deep inside cargo.
# nooelint: oelint.task.noanonpython
python () {
    import re
    manifest = os.path.join(d.getVar('FIBHA_REPO_DIR'), 'Cargo.toml')
    try:
        with open(manifest) as f:
            text = f.read()
    except OSError as e:
        raise bb.parse.SkipRecipe("fibha: cannot read %s (%s): set FIBHA_REPO_DIR to the fibha checkout" % (manifest, e.strerror))
    need = re.search(r'^rust-version\s*=\s*"([0-9.]+)"', text, re.M)
    have = (d.getVar('RUSTVERSION') or '').rstrip('%')
    if need and have:
        as_tuple = lambda v: tuple(int(x) for x in v.split('.') if x.isdigit())
        if as_tuple(have) < as_tuple(need.group(1)):
            raise bb.parse.SkipRecipe(
                "fibha needs Rust >= %s (rust-version in %s) but this build's Rust is %s: add a layer "
                "with a newer Rust toolchain, or set FIBHA_RUNTIME_PACKAGE = \"fibha-prebuilt\" and "
                "FIBHA_PREBUILT_BIN to a cross-built aarch64 binary" % (need.group(1), manifest, have))
}

do_compile() {
    oe_cargo_fix_env
    oe_cargo_build --package fibha --bin fibha --locked
}

do_install() {
    install -d ${D}${bindir}
    install -m 0755 ${B}/target/${CARGO_TARGET_SUBDIR}/fibha ${D}${bindir}/fibha
    fibha_install_assets
}

RCONFLICTS:${PN} = "fibha-prebuilt"
