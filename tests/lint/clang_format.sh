#!/usr/bin/env bash
# Fails when a C++ file differs from .clang-format's layout.
set -euo pipefail
cd "$1"
mapfile -t files < <(git ls-files '*.cc' '*.h' 2>/dev/null || find exporter probes collectors tests bench -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror "${files[@]}"
echo "clang-format: ${#files[@]} files clean"
