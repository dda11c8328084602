#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then configures, builds and runs a
# downstream project that uses find_package(brains).
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
"$work/prefix/bin/brains" --version >/dev/null
cmake -S "$source_dir/tests/install/consumer" -B "$work/build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" >/dev/null
output=$(LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/build/consumer")
echo "$output"
[ "$output" = "brains $(sed -n 's/.*BRAINS_VERSION "\(.*\)"/\1/p' "$work/prefix/include/brains/version.h") plateau_length 42" ]
