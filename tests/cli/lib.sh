# Helpers for integration tests that drive the real custos binary.
# Sourced by tests/cli/test_*.sh; CTest sets CUSTOS (the binary),
# CUSTOS_SOURCE_DIR, CUSTOS_MODELS_DIR and CUSTOS_TEST_DATA.
set -u
: "${CUSTOS:?CUSTOS must name the custos binary}"
: "${CUSTOS_SOURCE_DIR:?}"
: "${CUSTOS_MODELS_DIR:=$CUSTOS_SOURCE_DIR/models}"
export CUSTOS_MODELS="$CUSTOS_MODELS_DIR"

T=$(mktemp -d "${TMPDIR:-/tmp}/custos-cli-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# run CMD...: runs it, keeping stdout in $T/out, stderr in $T/err, status in $status.
run() {
  "$@" >"$T/out" 2>"$T/err"
  status=$?
}

# expect_status N DESCRIPTION CMD...
expect_status() {
  local want=$1 what=$2
  shift 2
  run "$@"
  if [ "$status" -eq "$want" ]; then ok; else
    fail "$what: exit $status, expected $want; stderr: $(head -c 400 "$T/err")"
  fi
}

# expect_grep PATTERN FILE DESCRIPTION
expect_grep() {
  if grep -q -E -- "$1" "$2"; then ok; else fail "$3: /$1/ not in $(basename "$2"): $(head -c 400 "$2")"; fi
}

expect_no_grep() {
  if grep -q -E -- "$1" "$2"; then fail "$3: /$1/ found in $(basename "$2")"; else ok; fi
}

# expect_lines N FILE DESCRIPTION
expect_lines() {
  local n
  n=$(wc -l <"$2")
  if [ "$n" -eq "$1" ]; then ok; else fail "$3: $n lines, expected $1"; fi
}

expect_same_file() {
  if cmp -s "$1" "$2"; then ok; else fail "$3: $1 and $2 differ"; fi
}

# json_get FILE EXPR: evaluates a Python expression on the JSON document `d`.
json_get() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
