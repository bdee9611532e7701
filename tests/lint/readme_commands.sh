#!/usr/bin/env bash
# The README opens with two commands (run, test) and .ci/run runs the second one verbatim.
set -euo pipefail
cd "$1"
mapfile -t commands < <(awk '/^```/{block++; next} block==1' README.md)
if [[ ${#commands[@]} -ne 2 ]]; then
  echo "README.md: the first code block must hold exactly two commands, found ${#commands[@]}" >&2
  exit 1
fi
if ! grep -qxF "${commands[1]}" .ci/run; then
  echo ".ci/run does not run the README's test command: ${commands[1]}" >&2
  exit 1
fi
echo "README commands: ${commands[0]} | ${commands[1]}"
