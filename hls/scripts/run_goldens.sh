#!/bin/sh
# Runs every golden layer directory under GOLDENS (format: tb/README.md) through the
# testbenches that take it:
#   firb                              tb_firb (its shape must be one of the FIRB instances)
#   conv, depthwise, pointwise, add   tb_seml (any shape within its engines' maximums)
#   and, when the shape is a SESL instance's, tb_sesl_conv / tb_sesl_dw / tb_sesl_pw too.
# Usage: scripts/run_goldens.sh BUILD_CSIM_DIR GOLDENS_DIR
set -eu
bin=$1
goldens=$2
metas=$(find "$goldens" -name meta.txt | sort)
if [ -z "$metas" ]; then
    echo "run_goldens: no meta.txt under $goldens" >&2
    exit 1
fi
firb="" seml="" conv="" dw="" pw=""
for meta in $metas; do
    dir=$(dirname "$meta")
    # op and the shape keys that pick a SESL instance, in a fixed order.
    sig=$(awk '{ v[$1] = $2 } END { print v["op"], v["in_h"], v["in_w"], v["in_c"], v["out_c"], v["kernel"], v["stride"] }' "$meta")
    case "$sig" in
        "conv 224 224 3 32 3 2") conv="$conv --golden $dir" ;;
        "depthwise 112 112 32 32 3 1") dw="$dw --golden $dir" ;;
        "pointwise 112 112 32 16 1 1") pw="$pw --golden $dir" ;;
    esac
    case "${sig%% *}" in
        firb) firb="$firb --golden $dir" ;;
        conv|depthwise|pointwise|add) seml="$seml --golden $dir" ;;
        *) echo "run_goldens: $dir: unknown op '${sig%% *}'" >&2; exit 1 ;;
    esac
done
status=0
for pair in "tb_firb:$firb" "tb_seml:$seml" "tb_sesl_conv:$conv" "tb_sesl_dw:$dw" "tb_sesl_pw:$pw"; do
    tb=${pair%%:*}
    args=${pair#*:}
    [ -n "$args" ] || continue
    echo "== $tb ($(echo "$args" | grep -o -- --golden | wc -l) golden layers)"
    # shellcheck disable=SC2086 # one word per argument, directory names without spaces
    "$bin/$tb" $args || status=1
done
exit $status
