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
expected_version_line="brains $(sed -n 's/.*BRAINS_VERSION "\(.*\)"/\1/p' "$work/prefix/include/brains/version.h") plateau_length 42"
[ "$output" = "$expected_version_line" ]

# The installed examples build against the installed tree, and the DNPU example trains.
cmake -S "$work/prefix/share/brains/examples" -B "$work/examples" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/examples" >/dev/null
surrogate=$3
trained=$(LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/examples/custom_model" "$surrogate" 60)
echo "$trained"
first=$(echo "$trained" | awk '/^step 0 /{print $4}')
last=$(echo "$trained" | awk '/^step 60 /{print $4}')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }'
accuracy=$(echo "$trained" | awk '/^step 60 /{print $6}')
awk -v a="$accuracy" 'BEGIN { exit !(a >= 0.8) }'
