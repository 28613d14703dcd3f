#!/bin/sh
# Prints one parameter of a fibha params file (bitstreams/zcu102/params.example.tcl format:
# only `set fibha(KEY) VALUE` lines). Path-valued keys are resolved against the file's own
# directory, as build.tcl does, so make and Vivado agree on every path.
#   param.sh FILE KEY
set -eu
if [ $# -ne 2 ]; then
    echo "usage: param.sh PARAMS_FILE KEY" >&2
    exit 2
fi
file=$1
key=$2
if [ ! -f "$file" ]; then
    echo "param.sh: params file '$file' not found" >&2
    exit 2
fi
value=$(sed -n "s/^[[:space:]]*set[[:space:]][[:space:]]*fibha($key)[[:space:]][[:space:]]*//p" "$file" | tail -n 1)
value=$(printf '%s' "$value" | sed -e 's/[[:space:]]*$//' -e 's/^{\(.*\)}$/\1/' -e 's/^"\(.*\)"$/\1/')
case $key in
    ip_repo | plan | out_dir | dtso)
        case $value in
            '' | /*) ;;
            *) value="$(cd "$(dirname "$file")" && pwd)/$value" ;;
        esac
        ;;
esac
printf '%s\n' "$value"
