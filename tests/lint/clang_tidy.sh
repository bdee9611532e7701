#!/usr/bin/env bash
# Runs clang-tidy with the project's .clang-tidy over every .cc file in the build's
# compile_commands.json. Usage: clang_tidy.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir=$1
build_dir=$2
cd "$source_dir"
mapfile -t files < <(git ls-files '*.cc' 2>/dev/null || find exporter probes collectors tests bench -name '*.cc')
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build_dir" --quiet
echo "clang-tidy: ${#files[@]} files clean"
