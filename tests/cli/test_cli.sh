#!/usr/bin/env bash
# The command-line contract (CLI.md): version, help, exit statuses, usage
# errors, and the image commands on real photos and broken files.
. "$(dirname "$0")/lib.sh"

# --- version and help -------------------------------------------------------
expect_status 0 "--version" "$CUSTOS" --version
expect_grep '^custos [0-9]+\.[0-9]+\.[0-9]+$' "$T/out" "--version prints the version"
expect_status 0 "--help" "$CUSTOS" --help
expect_grep 'image info' "$T/out" "--help lists commands"
expect_grep 'exit status' "$T/out" "--help explains exit statuses"
expect_status 2 "no command" "$CUSTOS"
expect_status 0 "image info --help" "$CUSTOS" image info --help
expect_grep '^  custos image info FILE' "$T/out" "command help has a usage line"
expect_status 0 "help after arguments" "$CUSTOS" image convert a b --help

# --- usage errors exit 2 with a hint ----------------------------------------
expect_status 2 "unknown command" "$CUSTOS" frobnicate
expect_grep "^custos: unknown command 'frobnicate'" "$T/err" "unknown command named"
expect_grep '^hint: ' "$T/err" "unknown command has a hint"
expect_status 2 "misspelt command" "$CUSTOS" imag info x.jpg
expect_grep "did you mean 'custos image" "$T/err" "misspelt command gets a suggestion"
expect_status 2 "misspelt sub-command" "$CUSTOS" image inf x.jpg
expect_grep "did you mean 'custos image info'" "$T/err" "misspelt sub-command gets a suggestion"
expect_status 2 "missing argument" "$CUSTOS" image info
expect_grep "missing arguments" "$T/err" "missing argument named"
expect_status 2 "too many arguments" "$CUSTOS" image convert a b c
expect_status 2 "unknown option" "$CUSTOS" image info --bogus x.jpg
expect_grep "unknown option '--bogus'" "$T/err" "unknown option named"
expect_status 2 "option without its value" "$CUSTOS" image info x.jpg --db
expect_status 2 "flag with a value" "$CUSTOS" image info x.jpg --json=yes

# --- image info ---------------------------------------------------------------
demo="$CUSTOS_MODELS_DIR/demo"
if [ -f "$demo/sample1.jpg" ]; then
  expect_status 0 "image info on a photo" "$CUSTOS" image info "$demo/sample1.jpg"
  expect_grep 'jpeg [0-9]+x[0-9]+, 3 channels' "$T/out" "human info line"
  expect_status 0 "image info --json" "$CUSTOS" image info --json "$demo/sample1.jpg"
  [ "$(json_get "$T/out" 'd["format"]')" = jpeg ] && ok || fail "json format"
  [ "$(json_get "$T/out" 'd["channels"]')" = 3 ] && ok || fail "json channels"
  [ "$(json_get "$T/out" 'd["orientation"]')" = 1 ] && ok || fail "json orientation"
  w=$(json_get "$T/out" 'd["width"]')
  dw=$(djpeg -ppm "$demo/sample1.jpg" | head -c 20 | sed -n 2p | cut -d' ' -f1)
  [ "$w" = "$dw" ] && ok || fail "width $w differs from djpeg's $dw"
  expect_status 0 "several files give JSON lines" "$CUSTOS" image info "$demo/sample1.jpg" \
    --json "$demo/sample2.jpg"
  expect_lines 2 "$T/out" "one JSON document per file"

  # --- image convert equals djpeg -ppm byte for byte ----------------------
  for i in 1 2 3 4 5 6; do
    expect_status 0 "convert sample$i" "$CUSTOS" image convert "$demo/sample$i.jpg" "$T/s$i.ppm"
    djpeg -ppm "$demo/sample$i.jpg" >"$T/d$i.ppm"
    expect_same_file "$T/s$i.ppm" "$T/d$i.ppm" "sample$i.jpg converted like djpeg -ppm"
  done
  # Truncated copies of a real photo: exit 3, one line on stderr, no output file.
  size=$(stat -c %s "$demo/sample1.jpg")
  for cut in 0 2 100 1000 $((size / 3)) $((size / 2)) $((size - 100)); do
    head -c "$cut" "$demo/sample1.jpg" >"$T/cut.jpg"
    expect_status 3 "truncated at $cut" "$CUSTOS" image convert "$T/cut.jpg" "$T/cut.ppm"
    expect_lines 1 "$T/err" "truncated at $cut: one line on stderr"
    [ ! -e "$T/cut.ppm" ] && ok || fail "truncated at $cut: an output file was written"
  done
else
  fail "demo photos missing in $demo (run scripts/fetch-models)"
fi

# --- files that are not images --------------------------------------------------
printf 'GIF89a\001\000\001\000' >"$T/x.gif"
expect_status 3 "a GIF" "$CUSTOS" image info "$T/x.gif"
expect_grep 'GIF' "$T/err" "the format found is named"
expect_lines 1 "$T/err" "one line on stderr"
: >"$T/empty.jpg"
expect_status 3 "an empty file" "$CUSTOS" image info "$T/empty.jpg"
head -c 4096 /dev/urandom >"$T/random.jpg"
expect_status 3 "random bytes" "$CUSTOS" image info "$T/random.jpg"
expect_status 5 "a missing file" "$CUSTOS" image info "$T/does-not-exist.jpg"
expect_grep "does-not-exist.jpg" "$T/err" "missing file named"
expect_status 3 "a folder" "$CUSTOS" image info "$T"
expect_status 1 "an unwritable output" "$CUSTOS" image convert "$demo/sample1.jpg" "$T/no/such/dir/x.ppm"

finish
