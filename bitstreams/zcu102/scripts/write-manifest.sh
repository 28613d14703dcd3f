#!/bin/sh
# Writes fibha.manifest.json: what the runtime checks before it loads a bitstream (the plan
# hash must equal the weight bundle's) and what a person needs to trace a firmware set back
# to its build. Every value is checked; a missing file or a malformed value is an error.
#   write-manifest.sh OUT.json BIT_BIN DTBO PLAN_HASH PART CLOCK_MHZ HP_PORTS [BUILD_INFO]
set -eu
if [ $# -lt 7 ] || [ $# -gt 8 ]; then
    echo "usage: write-manifest.sh OUT.json BIT_BIN DTBO PLAN_HASH PART CLOCK_MHZ HP_PORTS [BUILD_INFO]" >&2
    exit 2
fi
out=$1 bitbin=$2 dtbo=$3 plan_hash=$4 part=$5 clock_mhz=$6 hp_ports=$7
build_info=${8:-}

die() {
    echo "write-manifest.sh: $*" >&2
    exit 1
}

for f in "$bitbin" "$dtbo"; do
    [ -s "$f" ] || die "'$f' is missing or empty"
done
printf '%s' "$plan_hash" | grep -Eq '^[0-9a-f]{16,128}$' || die "plan hash '$plan_hash' is not a lowercase hex digest"
printf '%s' "$part" | grep -Eq '^[a-z0-9-]+$' || die "part '$part' is not a Vivado part name"
printf '%s' "$clock_mhz" | grep -Eq '^[0-9]+(\.[0-9]+)?$' || die "clock '$clock_mhz' is not a number of MHz"
printf '%s' "$hp_ports" | grep -Eq '^[1-4]$' || die "hp_ports '$hp_ports' is not 1..4"

sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

# Vivado version and worst negative slack, when build.tcl's build-info.txt is there.
info_value() {
    if [ -n "$build_info" ] && [ -f "$build_info" ]; then
        sed -n "s/^$1 //p" "$build_info" | head -n 1
    fi
}
vivado=$(info_value vivado)
wns=$(info_value wns_ns)
if [ -n "$vivado" ]; then vivado_json="\"$vivado\""; else vivado_json=null; fi
if printf '%s' "$wns" | grep -Eq '^-?[0-9]+(\.[0-9]+)?$'; then wns_json=$wns; else wns_json=null; fi

tmp="$out.tmp"
cat >"$tmp" <<JSON
{
  "format": "fibha-bitstream-manifest/1",
  "board": "zcu102",
  "part": "$part",
  "plan_hash": "$plan_hash",
  "clock_mhz": $clock_mhz,
  "hp_ports": $hp_ports,
  "bitstream": "$(basename "$bitbin")",
  "bitstream_sha256": "$(sha256 "$bitbin")",
  "overlay": "$(basename "$dtbo")",
  "overlay_sha256": "$(sha256 "$dtbo")",
  "vivado": $vivado_json,
  "wns_ns": $wns_json
}
JSON
mv "$tmp" "$out"
echo "wrote $out"
