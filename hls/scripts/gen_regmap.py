#!/usr/bin/env python3
"""Generate fibha's register map for C++ (kernel and C simulation) and Rust (runtime).

The single description is hls/regmap.toml. This script validates it (alignment, overlaps,
address width, bit fields, unique names and values) and writes:
  * a C++ header: register offsets, bit fields, status codes, layer kinds, buffer ids,
    the bundle header and layer descriptor structs with word (de)serialisers, and the
    FIBHA_REGMAP_SAXI_PRAGMAS macro holding every `HLS INTERFACE s_axilite ... offset=`
    line of the top-level kernel;
  * a Rust module with the same facts.
With --check it writes nothing and exits 1 if either output differs from what it would
write, so a build can refuse stale generated files.

Standard library only (Python 3.11+ for tomllib).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ACCESS = {"rw", "ro", "cor", "tow", "w1s"}
ROLES = {"control", "pointer", "scalar_in", "scalar_out"}
FIELD_TYPES = {"u32", "i32"}


class SpecError(Exception):
    """The description is inconsistent; the message names the entry and the rule."""


@dataclass
class Field:
    name: str
    lsb: int
    bits: int
    access: str
    doc: str


@dataclass
class Register:
    name: str
    offset: int
    width: int
    role: str
    access: str
    doc: str
    port: str | None
    vld_offset: int | None
    fields: list[Field]

    def words(self) -> list[tuple[int, str]]:
        """Every 32-bit word the register occupies, with a label."""
        out = [(self.offset, self.name)]
        if self.width == 64:
            out.append((self.offset + 4, self.name + " (high word)"))
        if self.vld_offset is not None:
            out.append((self.vld_offset, self.name + " (ap_vld)"))
        return out


@dataclass
class Enumerator:
    name: str
    value: int
    doc: str


@dataclass
class StructField:
    name: str
    type: str
    doc: str


@dataclass
class Spec:
    kernel: str
    bundle: str
    addr_bits: int
    version: int
    registers: list[Register]
    status_codes: list[Enumerator]
    layer_kinds: list[Enumerator]
    buffer_ids: list[Enumerator]
    bundle_magic: int
    bundle_version: int
    bundle_fields: list[StructField]
    bundle_crc_word: int
    sesl_structs: list[PlainStruct]
    desc_magic: int
    desc_flags: list[Enumerator]
    desc_fields: list[StructField]
    linux: dict


def require(cond: bool, message: str) -> None:
    if not cond:
        raise SpecError(message)


def need(table: dict, key: str, where: str):
    require(key in table, f"{where}: missing key '{key}'")
    return table[key]


def identifier(name: str, where: str) -> str:
    require(name.isidentifier() and name == name.lower(), f"{where}: '{name}' is not a snake_case identifier")
    return name


def parse_enumerators(raw: list, what: str, max_value: int) -> list[Enumerator]:
    items = []
    for i, entry in enumerate(raw):
        where = f"{what}[{i}]"
        items.append(
            Enumerator(identifier(need(entry, "name", where), where), int(need(entry, "value", where)), need(entry, "doc", where))
        )
    names = [e.name for e in items]
    values = [e.value for e in items]
    require(len(set(names)) == len(names), f"{what}: duplicate names")
    require(len(set(values)) == len(values), f"{what}: duplicate values")
    require(all(0 <= v <= max_value for v in values), f"{what}: values must lie in 0..{max_value}")
    return items


def parse_struct(raw: list, what: str, magic_first: bool = True) -> list[StructField]:
    fields = []
    for i, entry in enumerate(raw):
        where = f"{what}.fields[{i}]"
        ftype = need(entry, "type", where)
        require(ftype in FIELD_TYPES, f"{where}: type '{ftype}' is not one of {sorted(FIELD_TYPES)}")
        fields.append(StructField(identifier(need(entry, "name", where), where), ftype, need(entry, "doc", where)))
    names = [f.name for f in fields]
    require(len(set(names)) == len(names), f"{what}: duplicate field names")
    require(bool(fields), f"{what}: no fields")
    require(not magic_first or fields[0].name == "magic", f"{what}: the first field must be 'magic'")
    return fields


@dataclass
class PlainStruct:
    name: str
    doc: str
    fields: list[StructField]


def parse_plain_structs(raw: list) -> list[PlainStruct]:
    out = []
    for i, entry in enumerate(raw):
        where = f"sesl_struct[{i}]"
        name = need(entry, "name", where)
        require(name.isidentifier() and name[0].isupper(), f"{where}: '{name}' is not a CamelCase type name")
        out.append(PlainStruct(name, need(entry, "doc", where), parse_struct(need(entry, "fields", where), where, False)))
    require(len({s.name for s in out}) == len(out), "sesl_struct: duplicate names")
    return out


LINUX_NAMES = {
    "uio_name": "UIO_NAME",
    "overlay_name": "OVERLAY_NAME",
    "weights_buffer": "WEIGHTS_BUFFER",
}
LINUX_LISTS = {
    "input_buffers": "INPUT_BUFFERS",
    "output_buffers": "OUTPUT_BUFFERS",
}


def linux_name(value, where: str) -> str:
    require(isinstance(value, str) and 0 < len(value) <= 64
            and all(c.isascii() and (c.isalnum() or c in "_-") for c in value),
            f"{where}: {value!r} is not a device name (letters, digits, _ and -)")
    return value


def parse_linux(raw: dict) -> dict:
    """The names Linux gives the kernel's devices; every one distinct."""
    known = set(LINUX_NAMES) | set(LINUX_LISTS)
    require(set(raw) == known, f"linux: needs exactly {sorted(known)}, has {sorted(raw)}")
    out = {key: linux_name(raw[key], f"linux.{key}") for key in LINUX_NAMES}
    for key in LINUX_LISTS:
        names = raw[key]
        require(isinstance(names, list) and names, f"linux.{key}: a non-empty list of names")
        out[key] = [linux_name(n, f"linux.{key}") for n in names]
    require(len(out["input_buffers"]) == len(out["output_buffers"]),
            "linux: one output buffer per input buffer (one pair per pipeline slot)")
    buffers = out["input_buffers"] + out["output_buffers"] + [out["weights_buffer"]]
    require(len(set(buffers)) == len(buffers), "linux: buffer names must be distinct")
    return out


def parse(text: str) -> Spec:
    doc = tomllib.loads(text)
    meta = need(doc, "meta", "file")
    addr_bits = int(need(meta, "addr_bits", "meta"))
    registers = []
    for i, raw in enumerate(need(doc, "register", "file")):
        where = f"register[{i}]"
        name = identifier(need(raw, "name", where), where)
        where = f"register '{name}'"
        width = int(need(raw, "width", where))
        role = need(raw, "role", where)
        access = need(raw, "access", where)
        require(width in (32, 64), f"{where}: width must be 32 or 64")
        require(role in ROLES, f"{where}: role '{role}' is not one of {sorted(ROLES)}")
        require(access in ACCESS, f"{where}: access '{access}' is not one of {sorted(ACCESS)}")
        offset = int(need(raw, "offset", where))
        require(offset % 4 == 0, f"{where}: offset 0x{offset:X} is not 4-byte aligned")
        port = raw.get("port")
        require((port is None) == (role == "control"), f"{where}: exactly the non-control registers name a port")
        if port is not None:
            require(port.isidentifier(), f"{where}: port '{port}' is not a C identifier")
        vld = raw.get("vld_offset")
        if role == "scalar_out":
            require(vld is not None, f"{where}: an output register needs vld_offset (its ap_vld word)")
            require(vld == offset + width // 8, f"{where}: vld_offset must follow the data words (0x{offset + width // 8:X})")
        else:
            require(vld is None, f"{where}: only scalar_out registers have an ap_vld word")
        require(role != "pointer" or width == 64, f"{where}: pointers are 64-bit on Zynq UltraScale+")
        fields = []
        for j, f in enumerate(raw.get("fields", [])):
            fwhere = f"{where}.fields[{j}]"
            field = Field(
                identifier(need(f, "name", fwhere), fwhere),
                int(need(f, "lsb", fwhere)),
                int(need(f, "bits", fwhere)),
                need(f, "access", fwhere),
                need(f, "doc", fwhere),
            )
            require(field.access in ACCESS, f"{fwhere}: access '{field.access}' unknown")
            require(field.bits >= 1 and field.lsb >= 0 and field.lsb + field.bits <= width, f"{fwhere}: bits outside the register")
            fields.append(field)
        used = 0
        for field in fields:
            mask = ((1 << field.bits) - 1) << field.lsb
            require(used & mask == 0, f"{where}: field '{field.name}' overlaps another field")
            used |= mask
        require(len({f.name for f in fields}) == len(fields), f"{where}: duplicate field names")
        registers.append(Register(name, offset, width, role, access, need(raw, "doc", where), port, vld, fields))

    require(len({r.name for r in registers}) == len(registers), "register: duplicate names")
    ports = [r.port for r in registers if r.port]
    require(len(set(ports)) == len(ports), "register: two registers name the same port")
    control = {r.name: r.offset for r in registers if r.role == "control"}
    require(control == {"ctrl": 0x00, "gie": 0x04, "ier": 0x08, "isr": 0x0C}, "register: the ap_ctrl_hs block must be ctrl 0x00, gie 0x04, ier 0x08, isr 0x0C")
    seen: dict[int, str] = {}
    for reg in registers:
        if reg.role != "control":
            require(reg.offset >= 0x10, f"register '{reg.name}': arguments start at 0x10")
        for addr, label in reg.words():
            require(addr + 4 <= (1 << addr_bits), f"{label}: 0x{addr:X} beyond the {addr_bits}-bit address space")
            require(addr not in seen, f"{label}: word 0x{addr:X} already used by {seen.get(addr)}")
            seen[addr] = label

    status = parse_enumerators(need(doc, "status_code", "file"), "status_code", 255)
    require(any(e.name == "ok" and e.value == 0 for e in status), "status_code: 'ok' must be 0")
    status_reg = next((r for r in registers if r.name == "status"), None)
    require(status_reg is not None, "register: 'status' is required")
    code = next((f for f in status_reg.fields if f.name == "code"), None)
    require(code is not None and max(e.value for e in status) < (1 << code.bits), "status.code cannot hold every status code")

    header = need(doc, "bundle_header", "file")
    descriptor = need(doc, "descriptor", "file")
    bundle_fields = parse_struct(need(header, "fields", "bundle_header"), "bundle_header")
    crc_field = need(header, "crc_field", "bundle_header")
    crc_words = [i for i, f in enumerate(bundle_fields) if f.name == crc_field]
    require(len(crc_words) == 1 and bundle_fields[crc_words[0]].type == "u32",
            f"bundle_header: crc_field '{crc_field}' must name one u32 field")
    return Spec(
        kernel=need(meta, "kernel", "meta"),
        bundle=need(meta, "bundle", "meta"),
        addr_bits=addr_bits,
        version=int(need(meta, "interface_version", "meta")),
        registers=registers,
        status_codes=status,
        layer_kinds=parse_enumerators(need(doc, "layer_kind", "file"), "layer_kind", 0xFFFFFFFF),
        buffer_ids=parse_enumerators(need(doc, "buffer_id", "file"), "buffer_id", 0xFFFFFFFF),
        bundle_magic=int(need(header, "magic", "bundle_header")),
        bundle_version=int(need(header, "version", "bundle_header")),
        bundle_fields=bundle_fields,
        bundle_crc_word=crc_words[0],
        sesl_structs=parse_plain_structs(need(doc, "sesl_struct", "file")),
        desc_magic=int(need(descriptor, "magic", "descriptor")),
        desc_flags=parse_enumerators(descriptor.get("flag", []), "descriptor.flag", 31),
        desc_fields=parse_struct(need(descriptor, "fields", "descriptor"), "descriptor"),
        linux=parse_linux(need(doc, "linux", "file")),
    )


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def cpp_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rust_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cpp_comment(text: str, indent: str = "") -> list[str]:
    return [f"{indent}/// {line}" for line in wrap(text, 92 - len(indent))]


def wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines or [""]


HEADER_NOTE = "generated by hls/scripts/gen_regmap.py from hls/regmap.toml; do not edit"


def gen_cpp(spec: Spec) -> str:
    out: list[str] = []
    w = out.append
    w(f"// @{HEADER_NOTE}.")
    w("//")
    w("// The fibha accelerator's host interface: s_axilite register offsets (ap_ctrl_hs layout),")
    w("// bit fields, status codes, layer kinds, buffer ids, and the device bundle header and")
    w("// SEML layer descriptor with their word layouts. The kernel takes its s_axilite offset")
    w("// pragmas from FIBHA_REGMAP_SAXI_PRAGMAS; the C-simulation register model and the Rust")
    w("// runtime use the same offsets, so nothing is typed twice.")
    w("#ifndef FIBHA_REGMAP_HPP")
    w("#define FIBHA_REGMAP_HPP")
    w("")
    w("#include <cstdint>")
    w("")
    w("namespace fibha {")
    w("namespace regmap {")
    w("")
    w("/// Version of this interface; bumped on any incompatible change.")
    w(f"constexpr uint32_t kInterfaceVersion = {spec.version};")
    w("/// Width of the s_axilite address bus.")
    w(f"constexpr uint32_t kAddrBits = {spec.addr_bits};")
    w("")
    w("/// A bit field of a 32-bit register word.")
    w("struct Field {")
    w("  uint32_t lsb;   ///< lowest bit")
    w("  uint32_t bits;  ///< width in bits")
    w("  constexpr uint32_t mask() const { return (bits >= 32 ? 0xFFFFFFFFu : ((1u << bits) - 1u)) << lsb; }")
    w("  constexpr uint32_t get(uint32_t p_word) const { return (p_word & mask()) >> lsb; }")
    w("  constexpr uint32_t put(uint32_t p_word, uint32_t p_value) const {")
    w("    return (p_word & ~mask()) | ((p_value << lsb) & mask());")
    w("  }")
    w("};")
    w("")
    for reg in spec.registers:
        out.extend(cpp_comment(f"{reg.doc} ({reg.width}-bit, {reg.access}{', port ' + reg.port if reg.port else ''})"))
        w(f"constexpr uint32_t k{camel(reg.name)} = 0x{reg.offset:02X};")
        if reg.width == 64:
            out.extend(cpp_comment(f"High word of {reg.name}."))
            w(f"constexpr uint32_t k{camel(reg.name)}Hi = 0x{reg.offset + 4:02X};")
        if reg.vld_offset is not None:
            out.extend(cpp_comment(f"Control word of {reg.name}: bit 0 ap_vld (clear on read)."))
            w(f"constexpr uint32_t k{camel(reg.name)}Vld = 0x{reg.vld_offset:02X};")
        if reg.fields:
            out.extend(cpp_comment(f"Bit fields of {reg.name}."))
            w(f"namespace {reg.name} {{")
            for field in reg.fields:
                out.extend(cpp_comment(f"{field.doc} ({field.access})"))
                w(f"constexpr Field k{camel(field.name)}{{{field.lsb}, {field.bits}}};")
            w(f"}}  // namespace {reg.name}")
        w("")
    w("/// One register of the map, for tables and dumps.")
    w("struct RegisterInfo {")
    w("  const char* name;     ///< register name")
    w("  uint32_t offset;      ///< byte offset of the (low) data word")
    w("  uint32_t width;       ///< 32 or 64")
    w("  uint32_t vld_offset;  ///< ap_vld control word, 0 when there is none")
    w("  const char* access;   ///< rw, ro, cor, tow or w1s")
    w("};")
    w("")
    w("/// Every register, in offset order.")
    w("constexpr RegisterInfo kRegisters[] = {")
    for reg in sorted(spec.registers, key=lambda r: r.offset):
        w(f"    {{{cpp_string(reg.name)}, 0x{reg.offset:02X}, {reg.width}, 0x{reg.vld_offset or 0:02X}, {cpp_string(reg.access)}}},")
    w("};")
    w("")
    for title, enum, items in (
        ("Status codes (status.code).", "StatusCode", spec.status_codes),
        ("Kinds of SEML layer (descriptor.kind).", "LayerKind", spec.layer_kinds),
        ("Feature-map buffers a descriptor can name (in_buf, res_buf, out_buf).", "BufferId", spec.buffer_ids),
    ):
        out.extend(cpp_comment(title))
        w(f"enum class {enum} : uint32_t {{")
        for e in items:
            out.extend(cpp_comment(e.doc, "  "))
            w(f"  k{camel(e.name)} = {e.value},")
        w("};")
        w("")
    w("/// The name of a status code (\"unknown\" for values outside the list).")
    w("inline const char* status_code_name(StatusCode p_code) {")
    w("  switch (p_code) {")
    for e in spec.status_codes:
        w(f"    case StatusCode::k{camel(e.name)}:")
        w(f"      return {cpp_string(e.name)};")
    w("  }")
    w('  return "unknown";')
    w("}")
    w("")
    for title, struct, magic, fields, extra in (
        ("The device bundle header at offset 0 of the bundle.", "BundleHeader", spec.bundle_magic, spec.bundle_fields,
         [("kBundleVersion", spec.bundle_version, "Device bundle format version the kernel accepts."),
          ("kBundleCrcWord", spec.bundle_crc_word, "Index of the header word the bundle's CRC-32 leaves out.")]),
        ("One SEML layer descriptor.", "LayerDesc", spec.desc_magic, spec.desc_fields,
         [(f"kFlag{camel(f.name)}", 1 << f.value, f"LayerDesc.flags bit {f.value}: {f.doc}") for f in spec.desc_flags]),
    ):
        prefix = "Bundle" if struct == "BundleHeader" else "Desc"
        out.extend(cpp_comment(f"Magic word of a {struct}."))
        w(f"constexpr uint32_t k{prefix}Magic = 0x{magic:08X};")
        for name, value, text in extra:
            out.extend(cpp_comment(text))
            w(f"constexpr uint32_t {name} = {value};")
        out.extend(cpp_comment(f"Size of a {struct} in 32-bit words."))
        w(f"constexpr unsigned k{struct}Words = {len(fields)};")
        out.extend(cpp_comment(title))
        w(f"struct {struct} {{")
        for f in fields:
            ctype = "uint32_t" if f.type == "u32" else "int32_t"
            w(f"  {ctype} {f.name};  ///< {f.doc}")
        w("};")
        w("")
        out.extend(cpp_comment(f"Decodes a {struct} from k{struct}Words words (a pointer or array of any integer element type)."))
        w("template <typename t_Words>")
        w(f"inline {struct} {snake(struct)}_from_words(const t_Words& p_words) {{")
        w(f"  {struct} l_value;")
        for i, f in enumerate(fields):
            ctype = "uint32_t" if f.type == "u32" else "int32_t"
            w(f"  l_value.{f.name} = static_cast<{ctype}>(static_cast<uint32_t>(p_words[{i}]));")
        w("  return l_value;")
        w("}")
        w("")
        out.extend(cpp_comment(f"Encodes a {struct} into k{struct}Words words."))
        w(f"inline void {snake(struct)}_to_words(const {struct}& p_value, uint32_t* p_words) {{")
        for i, f in enumerate(fields):
            w(f"  p_words[{i}] = static_cast<uint32_t>(p_value.{f.name});")
        w("}")
        w("")
    for plain in spec.sesl_structs:
        out.extend(cpp_comment(f"Size of a {plain.name} in 32-bit words."))
        w(f"constexpr unsigned k{plain.name}Words = {len(plain.fields)};")
        out.extend(cpp_comment(plain.doc))
        w(f"struct {plain.name} {{")
        for f in plain.fields:
            ctype = "uint32_t" if f.type == "u32" else "int32_t"
            w(f"  {ctype} {f.name};  ///< {f.doc}")
        w("};")
        w("")
        out.extend(cpp_comment(f"Decodes a {plain.name} from k{plain.name}Words words (a pointer or array of any integer element type)."))
        w("template <typename t_Words>")
        w(f"inline {plain.name} {snake(plain.name)}_from_words(const t_Words& p_words) {{")
        w(f"  {plain.name} l_value;")
        for i, f in enumerate(plain.fields):
            ctype = "uint32_t" if f.type == "u32" else "int32_t"
            w(f"  l_value.{f.name} = static_cast<{ctype}>(static_cast<uint32_t>(p_words[{i}]));")
        w("  return l_value;")
        w("}")
        w("")
    w("}  // namespace regmap")
    w("}  // namespace fibha")
    w("")
    w("/// The s_axilite INTERFACE pragmas of the top-level kernel, one per argument register.")
    lines = [f'_Pragma("HLS INTERFACE mode=s_axilite port=return bundle={spec.bundle}")']
    for reg in spec.registers:
        if reg.port:
            lines.append(
                f'_Pragma("HLS INTERFACE mode=s_axilite port={reg.port} offset=0x{reg.offset:02X} bundle={spec.bundle}")'
            )
    w("#define FIBHA_REGMAP_SAXI_PRAGMAS \\")
    for i, line in enumerate(lines):
        w(f"  {line}" + (" \\" if i + 1 < len(lines) else ""))
    w("")
    w("#endif  // FIBHA_REGMAP_HPP")
    return "\n".join(out) + "\n"


def snake(name: str) -> str:
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out += "_"
        out += ch.lower()
    return out


def rust_doc(text: str, indent: str = "") -> list[str]:
    return [f"{indent}/// {line}" for line in wrap(text, 92 - len(indent))]


def rust_common(spec: Spec, out: list[str]) -> None:
    """Registers, bit fields and enumerations: the part both Rust outputs share."""
    w = out.append
    w("/// Version of this interface; bumped on any incompatible change.")
    w(f"pub const INTERFACE_VERSION: u32 = {spec.version};")
    w("/// Width of the s_axilite address bus.")
    w(f"pub const ADDR_BITS: u32 = {spec.addr_bits};")
    w("/// Bytes of register space the kernel decodes.")
    w(f"pub const REGISTER_SPACE_BYTES: u32 = 1 << {spec.addr_bits};")
    w("")
    w("/// A bit field of a 32-bit register word.")
    w("#[derive(Clone, Copy, Debug, PartialEq, Eq)]")
    w("pub struct Field {")
    w("    /// Lowest bit.")
    w("    pub lsb: u32,")
    w("    /// Width in bits.")
    w("    pub bits: u32,")
    w("}")
    w("")
    w("impl Field {")
    w("    /// The field's bits in place.")
    w("    pub const fn mask(self) -> u32 {")
    w("        let low = if self.bits >= 32 {")
    w("            u32::MAX")
    w("        } else {")
    w("            (1 << self.bits) - 1")
    w("        };")
    w("        low << self.lsb")
    w("    }")
    w("")
    w("    /// The field's value in a register word.")
    w("    pub const fn get(self, word: u32) -> u32 {")
    w("        (word & self.mask()) >> self.lsb")
    w("    }")
    w("")
    w("    /// A register word with the field replaced by `value` (excess bits dropped).")
    w("    pub const fn put(self, word: u32, value: u32) -> u32 {")
    w("        (word & !self.mask()) | ((value << self.lsb) & self.mask())")
    w("    }")
    w("}")
    w("")
    for reg in spec.registers:
        out.extend(rust_doc(f"{reg.doc} ({reg.width}-bit, {reg.access}{', kernel argument `' + reg.port + '`' if reg.port else ''})"))
        w(f"pub const {reg.name.upper()}: u32 = 0x{reg.offset:02X};")
        if reg.width == 64:
            out.extend(rust_doc(f"High word of `{reg.name}`."))
            w(f"pub const {reg.name.upper()}_HI: u32 = 0x{reg.offset + 4:02X};")
        if reg.vld_offset is not None:
            out.extend(rust_doc(f"Control word of `{reg.name}`: bit 0 ap_vld (clear on read)."))
            w(f"pub const {reg.name.upper()}_VLD: u32 = 0x{reg.vld_offset:02X};")
        if reg.fields:
            out.extend(rust_doc(f"Bit fields of `{reg.name}`."))
            w(f"pub mod {reg.name} {{")
            w("    use super::Field;")
            for field in reg.fields:
                out.extend(rust_doc(f"{field.doc} ({field.access})", "    "))
                w(f"    pub const {field.name.upper()}: Field = Field {{ lsb: {field.lsb}, bits: {field.bits} }};")
            w("}")
        w("")
    w("/// One register of the map, for tables and dumps.")
    w("#[derive(Clone, Copy, Debug, PartialEq, Eq)]")
    w("pub struct RegisterInfo {")
    w("    /// Register name.")
    w("    pub name: &'static str,")
    w("    /// Byte offset of the (low) data word.")
    w("    pub offset: u32,")
    w("    /// 32 or 64.")
    w("    pub width: u32,")
    w("    /// The ap_vld control word of an output register.")
    w("    pub vld_offset: Option<u32>,")
    w("    /// rw, ro, cor, tow or w1s.")
    w("    pub access: &'static str,")
    w("}")
    w("")
    w("/// Every register, in offset order.")
    w("pub const REGISTERS: &[RegisterInfo] = &[")
    for reg in sorted(spec.registers, key=lambda r: r.offset):
        vld = f"Some(0x{reg.vld_offset:02X})" if reg.vld_offset is not None else "None"
        w("    RegisterInfo {")
        w(f"        name: {rust_string(reg.name)},")
        w(f"        offset: 0x{reg.offset:02X},")
        w(f"        width: {reg.width},")
        w(f"        vld_offset: {vld},")
        w(f"        access: {rust_string(reg.access)},")
        w("    },")
    w("];")
    w("")
    for title, enum, items in (
        ("Status codes (`status::CODE`).", "StatusCode", spec.status_codes),
        ("Kinds of SEML layer (`LayerDesc::kind`).", "LayerKind", spec.layer_kinds),
        ("Feature-map buffers a descriptor can name (`in_buf`, `res_buf`, `out_buf`).", "BufferId", spec.buffer_ids),
    ):
        out.extend(rust_doc(title))
        w("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]")
        w("#[repr(u32)]")
        w(f"pub enum {enum} {{")
        for e in items:
            out.extend(rust_doc(e.doc, "    "))
            w(f"    {camel(e.name)} = {e.value},")
        w("}")
        w("")
        w(f"impl {enum} {{")
        w("    /// Every value, in declaration order.")
        one_line = f"    pub const ALL: &'static [{enum}] = &[{', '.join(f'{enum}::{camel(e.name)}' for e in items)}];"
        if len(one_line) <= 100:
            w(one_line)
        else:
            w(f"    pub const ALL: &'static [{enum}] = &[")
            for e in items:
                w(f"        {enum}::{camel(e.name)},")
            w("    ];")
        w("")
        w("    /// The value with this number, if there is one.")
        w("    pub const fn from_u32(value: u32) -> Option<Self> {")
        w("        match value {")
        for e in items:
            w(f"            {e.value} => Some(Self::{camel(e.name)}),")
        w("            _ => None,")
        w("        }")
        w("    }")
        w("")
        w("    /// The name used in hls/regmap.toml.")
        w("    pub const fn name(self) -> &'static str {")
        w("        match self {")
        for e in items:
            w(f"            Self::{camel(e.name)} => {rust_string(e.name)},")
        w("        }")
        w("    }")
        w("")
        w("    /// What the value means.")
        w("    pub const fn doc(self) -> &'static str {")
        w("        match self {")
        for e in items:
            arm = f"            Self::{camel(e.name)} => {rust_string(e.doc)},"
            if len(arm) > 100:
                w(f"            Self::{camel(e.name)} => {{")
                w(f"                {rust_string(e.doc)}")
                w("            }")
            else:
                w(arm)
        w("        }")
        w("    }")
        w("}")
        w("")


def rust_bytes_structs(spec: Spec, out: list[str]) -> None:
    """The header and descriptor as plain structs with explicit byte (de)serialisers."""
    w = out.append
    for title, struct, magic_name, magic, fields, extra in rust_struct_specs(spec):
        out.extend(rust_doc(f"Magic word of a `{struct}`."))
        w(f"pub const {magic_name}: u32 = 0x{magic:08X};")
        for name, value, text in extra:
            out.extend(rust_doc(text))
            w(f"pub const {name}: u32 = {value};")
        w("")
        out.extend(rust_doc(title))
        w("#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]")
        w("#[repr(C)]")
        w(f"pub struct {struct} {{")
        for f in fields:
            out.extend(rust_doc(f.doc, "    "))
            w(f"    pub {f.name}: {f.type},")
        w("}")
        w("")
        nbytes = 4 * len(fields)
        w(f"impl {struct} {{")
        w("    /// Size in 32-bit words.")
        w(f"    pub const WORDS: usize = {len(fields)};")
        w("    /// Size in bytes.")
        w(f"    pub const BYTES: usize = {nbytes};")
        w("")
        w("    /// The little-endian byte image the kernel reads.")
        w(f"    pub fn to_le_bytes(&self) -> [u8; {nbytes}] {{")
        w(f"        let mut bytes = [0u8; {nbytes}];")
        for i, f in enumerate(fields):
            w(f"        bytes[{4 * i}..{4 * i + 4}].copy_from_slice(&self.{f.name}.to_le_bytes());")
        w("        bytes")
        w("    }")
        w("")
        w("    /// Decodes the little-endian byte image.")
        w(f"    pub fn from_le_bytes(bytes: &[u8; {nbytes}]) -> Self {{")
        w(f"        let mut words = [[0u8; 4]; {len(fields)}];")
        w("        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(4)) {")
        w("            word.copy_from_slice(chunk);")
        w("        }")
        w("        Self {")
        for i, f in enumerate(fields):
            w(f"            {f.name}: {f.type}::from_le_bytes(words[{i}]),")
        w("        }")
        w("    }")
        w("}")
        w("")


def rust_struct_specs(spec: Spec):
    return (
        ("The device bundle header at offset 0 of the bundle.", "BundleHeader", "BUNDLE_MAGIC", spec.bundle_magic,
         spec.bundle_fields, [("BUNDLE_VERSION", spec.bundle_version, "Device bundle format version the kernel accepts.")]),
        ("One SEML layer descriptor.", "LayerDesc", "DESC_MAGIC", spec.desc_magic, spec.desc_fields,
         [(f"FLAG_{f.name.upper()}", 1 << f.value, f"`LayerDesc::flags` bit {f.value}: {f.doc}") for f in spec.desc_flags]),
    )


def rust_zerocopy_structs(spec: Spec, out: list[str]) -> None:
    """The header and descriptor as zerocopy byte layouts (little-endian fields)."""
    w = out.append
    for title, struct, magic_name, magic, fields, extra in rust_struct_specs(spec):
        out.extend(rust_doc(f"Magic word of a `{struct}`."))
        w(f"pub const {magic_name}: u32 = 0x{magic:08X};")
        for name, value, text in extra:
            out.extend(rust_doc(text))
            w(f"pub const {name}: u32 = {value};")
        w("")
        out.extend(rust_doc(title + " Little-endian 32-bit words, read in place with zerocopy."))
        w("#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]")
        w("#[repr(C)]")
        w(f"pub struct {struct} {{")
        for f in fields:
            out.extend(rust_doc(f.doc, "    "))
            w(f"    pub {f.name}: {f.type.upper()},")
        w("}")
        w("")
        w(f"impl {struct} {{")
        w("    /// Size in 32-bit words.")
        w(f"    pub const WORDS: usize = {len(fields)};")
        w("    /// Size in bytes.")
        w(f"    pub const BYTES: usize = {4 * len(fields)};")
        w("}")
        w("")
        w(f"const _: () = assert!(core::mem::size_of::<{struct}>() == {struct}::BYTES);")
        w("")
    for plain in spec.sesl_structs:
        out.extend(rust_doc(plain.doc + " Little-endian 32-bit words, read in place with zerocopy."))
        w("#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]")
        w("#[repr(C)]")
        w(f"pub struct {plain.name} {{")
        for f in plain.fields:
            out.extend(rust_doc(f.doc, "    "))
            w(f"    pub {f.name}: {f.type.upper()},")
        w("}")
        w("")
        w(f"impl {plain.name} {{")
        w("    /// Size in bytes.")
        w(f"    pub const BYTES: usize = {4 * len(plain.fields)};")
        w("}")
        w("")
    out.extend(rust_doc("Byte offset of the header word the bundle's CRC-32 leaves out."))
    w(f"pub const BUNDLE_CRC_OFFSET: usize = {4 * spec.bundle_crc_word};")


HOST_ACCESS = {"control": "ReadWrite", "pointer": "WriteOnly", "scalar_in": "WriteOnly", "scalar_out": "ReadOnly"}


def rust_handles(spec: Spec, out: list[str]) -> None:
    """Typed register handles (fibha_model::register): width and the host's access."""
    w = out.append
    w("")
    w("/// Every register as a typed handle: its width, and the host's access in its type (the")
    w("/// ap_ctrl_hs block read-write, the kernel's arguments write-only, its outputs")
    w("/// read-only). See [`crate::register`].")
    w("pub mod reg {")
    w("    use crate::register::{ReadOnly, ReadWrite, Reg32, Reg64, WriteOnly};")
    for reg in spec.registers:
        access = HOST_ACCESS[reg.role]
        w("")
        for line in wrap(reg.doc, 86):
            w(f"    /// {line}")
        name = reg.name.upper()
        if reg.width == 64:
            w(f"    pub const {name}: Reg64<{access}> = Reg64::new(0x{reg.offset:02X}, 0x{reg.offset + 4:02X});")
        else:
            w(f"    pub const {name}: Reg32<{access}> = Reg32::new(0x{reg.offset:02X});")
    w("}")


def rust_linux(spec: Spec, out: list[str]) -> None:
    """The Linux device names, for the runtime, the compiler's overlay and the virtual board."""
    w = out.append
    w("")
    w("/// The names Linux gives the kernel's devices (the device-tree overlay sets them, the")
    w("/// runtime opens them, the virtual board lays them out).")
    w("pub mod linux {")
    docs = {
        "UIO_NAME": "UIO name of the kernel's register block (`linux,uio-name`).",
        "OVERLAY_NAME": "The configfs directory the overlay is applied under.",
        "WEIGHTS_BUFFER": "The u-dma-buf buffer holding the weight bundle.",
        "INPUT_BUFFERS": "Input u-dma-buf buffers, one per pipeline slot.",
        "OUTPUT_BUFFERS": "Output u-dma-buf buffers, one per pipeline slot.",
    }
    for key, const in LINUX_NAMES.items():
        w(f"    /// {docs[const]}")
        w(f"    pub const {const}: &str = {rust_string(spec.linux[key])};")
    slots = len(spec.linux["input_buffers"])
    w("    /// Pipeline slots (input/output buffer pairs).")
    w(f"    pub const SLOTS: usize = {slots};")
    for key, const in LINUX_LISTS.items():
        names = ", ".join(rust_string(n) for n in spec.linux[key])
        w(f"    /// {docs[const]}")
        w(f"    pub const {const}: [&str; SLOTS] = [{names}];")
    w("}")


def gen_rust(spec: Spec) -> str:
    """runtime/model/src/device.rs: the interface for the runtime and the compiler."""
    out: list[str] = []
    w = out.append
    w(f"// @{HEADER_NOTE}.")
    w("// Regenerate with `make -C hls regmap`; `make -C hls csim` fails when this file is stale.")
    w("")
    w("//! The fibha accelerator's device interface, generated from `hls/regmap.toml`, the same")
    w("//! description the kernel's `fibha/regmap.hpp` comes from: s_axilite register offsets")
    w("//! (Vitis HLS ap_ctrl_hs layout), bit fields, status codes, layer kinds, buffer ids, and")
    w("//! the device bundle header and SEML layer descriptor as zerocopy byte layouts.")
    w("//!")
    w("//! Invariant: every offset, value and layout here equals the C++ header's, because both")
    w("//! are written by one generator from one description; nothing is typed twice.")
    w("")
    w("use zerocopy::little_endian::{I32, U32};")
    w("use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};")
    w("")
    rust_common(spec, out)
    rust_zerocopy_structs(spec, out)
    rust_handles(spec, out)
    rust_linux(spec, out)
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, required=True, help="the description (hls/regmap.toml)")
    parser.add_argument("--cpp", type=Path, required=True, help="C++ header to write")
    parser.add_argument("--rust", type=Path, required=True, help="Rust module to write (runtime/model/src/device.rs)")
    parser.add_argument("--check", action="store_true", help="compare with the existing files instead of writing")
    args = parser.parse_args(argv)
    try:
        spec = parse(args.spec.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        print(f"gen_regmap: cannot read {args.spec}: {err}", file=sys.stderr)
        return 2
    except SpecError as err:
        print(f"gen_regmap: {args.spec}: {err}", file=sys.stderr)
        return 2
    outputs = {args.cpp: gen_cpp(spec), args.rust: gen_rust(spec)}
    if args.check:
        stale = [str(p) for p, text in outputs.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            print(f"gen_regmap: stale generated file(s): {', '.join(stale)}; run `make -C hls regmap`", file=sys.stderr)
            return 1
        return 0
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
