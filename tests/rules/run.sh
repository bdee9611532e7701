#!/usr/bin/env bash
# Runs the built `nines rules` and checks its output with promtool, in a temporary directory.
# Usage: run.sh MODE NINES PROMTOOL RULES_DIR [ARGS...]
#   check                  both formats of RULES_DIR/nines-rules.yml pass `promtool check
#                          rules`; the PrometheusRule's spec holds exactly the rule file's groups
#   test TEST_FILE...      `promtool test rules` on the given files of RULES_DIR, next to the
#                          rules generated from RULES_DIR/nines-rules.yml as rules.yml
#   golden GOLDEN_DIR      every golden rule file (PrometheusRule ones unwrapped) passes
#                          `promtool check rules`
#   empty                  a config without SLOs gives `groups: []`, which promtool accepts
#   cli                    exit statuses and messages of bad flags and bad configs
set -euo pipefail

mode=$1
nines=$2
promtool=$3
rules_dir=$4
shift 4

work=$(mktemp -d "${TMPDIR:-/tmp}/nines-rules-XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The groups of a PrometheusRule as a rule file: its spec, one level less indented.
unwrap() {
  sed -n '/^spec:$/,$p' "$1" | sed '1d; s/^  //'
}

case $mode in
  check)
    "$nines" rules --config.file="$rules_dir/nines-rules.yml" > "$work/rules.yml"
    "$nines" rules --config.file="$rules_dir/nines-rules.yml" --format=prometheusrule \
      --name=shop-slos > "$work/prometheusrule.yml"
    "$promtool" check rules "$work/rules.yml"
    grep -qx 'kind: PrometheusRule' "$work/prometheusrule.yml" || fail "no kind: PrometheusRule"
    grep -qx '  name: shop-slos' "$work/prometheusrule.yml" || fail "no metadata.name shop-slos"
    unwrap "$work/prometheusrule.yml" > "$work/unwrapped.yml"
    "$promtool" check rules "$work/unwrapped.yml"
    sed -n '/^groups:/,$p' "$work/rules.yml" > "$work/groups.yml"
    diff -u "$work/groups.yml" "$work/unwrapped.yml" ||
      fail "the PrometheusRule's groups differ from the rule file's"
    ;;
  test)
    "$nines" rules --config.file="$rules_dir/nines-rules.yml" > "$work/rules.yml"
    for test_file in "$@"; do
      cp "$rules_dir/$test_file" "$work/"
    done
    cd "$work"
    "$promtool" test rules "$@"
    ;;
  golden)
    golden_dir=$1
    shopt -s nullglob
    files=("$golden_dir"/*.yml)
    [[ ${#files[@]} -gt 0 ]] || fail "no golden rule files in $golden_dir"
    for file in "${files[@]}"; do
      if grep -qx 'kind: PrometheusRule' "$file"; then
        unwrap "$file" > "$work/$(basename "$file")"
        "$promtool" check rules "$work/$(basename "$file")"
      else
        "$promtool" check rules "$file"
      fi
    done
    ;;
  empty)
    "$nines" rules --config.file="$rules_dir/empty.yml" > "$work/rules.yml"
    [[ $(grep -v '^#' "$work/rules.yml") == 'groups: []' ]] ||
      fail "expected only comments and 'groups: []', got: $(cat "$work/rules.yml")"
    "$promtool" check rules "$work/rules.yml"
    "$nines" rules --config.file="$rules_dir/empty.yml" --format=prometheusrule > "$work/pr.yml"
    [[ $(tail -n 2 "$work/pr.yml") == $'spec:\n  groups: []' ]] ||
      fail "expected an empty spec.groups, got: $(cat "$work/pr.yml")"
    ;;
  cli)
    # expect STATUS STDERR_PATTERN ARGS...: the status, a line of stderr, and no stdout.
    expect() {
      local want=$1 pattern=$2 status=0
      shift 2
      "$nines" rules "$@" > "$work/out" 2> "$work/err" || status=$?
      [[ $status -eq $want ]] || fail "nines rules $*: exit $status, want $want"
      grep -q -- "$pattern" "$work/err" || fail "nines rules $*: stderr lacks '$pattern': $(cat "$work/err")"
      [[ ! -s $work/out ]] || fail "nines rules $*: wrote to stdout: $(cat "$work/out")"
    }
    expect 2 '^nines rules: error: unrecognised option' --no-such-flag
    expect 2 '^nines rules: error: --config.file is required'
    expect 2 '^nines rules: error: --format: must be prometheus or prometheusrule (got "yaml")$' \
      --config.file="$rules_dir/nines-rules.yml" --format=yaml
    expect 2 '^nines rules: error: --name: must be a Kubernetes object name' \
      --config.file="$rules_dir/nines-rules.yml" --name=NO
    expect 1 "^$work/missing.yml: " --config.file="$work/missing.yml"
    printf 'slos:\n  - name: x\n    objective: 99\n    sli: {probe: nope}\n' > "$work/bad.yml"
    expect 1 "^$work/bad.yml:4:18: slos\[0\].sli.probe: no such probe (got \"nope\")$" \
      --config.file="$work/bad.yml"
    "$nines" rules --help > "$work/help"
    grep -q '^usage: nines rules --config.file=PATH' "$work/help" || fail "no usage in --help"
    echo "cli: ok"
    ;;
  *)
    fail "unknown mode $mode"
    ;;
esac
