#!/usr/bin/env bash
# custos face detect|embed|compare and custos eval verify (CLI.md): options and
# usage errors, missing models, JSON output, several images per process,
# agreement with the reference implementation's output for the demo photos,
# thread-count independence, hostile images, and a small verification run.
. "$(dirname "$0")/lib.sh"

demo="$CUSTOS_MODELS_DIR/demo"
ref="${CUSTOS_TEST_DATA:-$CUSTOS_SOURCE_DIR/tests/data}/reference/demo.jsonl"

# --- help and usage errors (no models needed) -------------------------------
expect_status 0 "face detect --help" "$CUSTOS" face detect --help
expect_grep '^  custos face detect IMAGE' "$T/out" "usage line"
expect_grep 'detector ssd' "$T/out" "help lists --detector"
expect_status 0 "face embed --help" "$CUSTOS" face embed --help
expect_status 0 "face compare --help" "$CUSTOS" face compare --help
expect_status 0 "eval verify --help" "$CUSTOS" eval verify --help
expect_status 2 "face detect without images" "$CUSTOS" face detect
expect_status 2 "bad --detector" "$CUSTOS" face detect --detector yolo x.jpg
expect_grep 'detector' "$T/err" "bad detector named"
expect_status 2 "bad --min-score" "$CUSTOS" face detect --min-score 1.5 x.jpg
expect_status 2 "non-numeric --min-score" "$CUSTOS" face detect --min-score abc x.jpg
expect_status 2 "bad --threads" "$CUSTOS" face embed --threads 0 x.jpg
expect_status 2 "bad --align" "$CUSTOS" face embed --align crooked x.jpg
expect_status 2 "compare needs two images" "$CUSTOS" face compare a.jpg
expect_status 2 "eval verify without --pairs" "$CUSTOS" eval verify --root /tmp
expect_status 5 "missing pairs file" "$CUSTOS" eval verify --root /tmp --pairs "$T/nope.txt"

# --- missing models: exit 5, one line and a hint ---------------------------
expect_status 5 "missing models folder" "$CUSTOS" face detect --models "$T/nomodels" x.jpg
expect_grep '^custos: face detect: models: ' "$T/err" "missing models named"
expect_grep '^hint: ' "$T/err" "missing models hint"
mkdir -p "$T/emptymodels"
expect_status 5 "models folder without models" "$CUSTOS" face embed --models "$T/emptymodels" x.jpg
CUSTOS_MODELS="$T/nomodels" expect_status 5 "\$CUSTOS_MODELS is used" "$CUSTOS" face detect x.jpg

if [ ! -f "$CUSTOS_MODELS_DIR/model/ssd_mobilenetv1_model.bin" ] || [ ! -f "$demo/sample1.jpg" ]; then
  echo "skipped: models or demo photos not found in $CUSTOS_MODELS_DIR (make models)"
  finish
  exit
fi

# --- detect and embed on the demo photos ------------------------------------
expect_status 0 "face detect" "$CUSTOS" face detect "$demo/sample1.jpg"
expect_grep '3 faces' "$T/out" "three faces in sample1"
expect_grep 'face 1: score 0\.9' "$T/out" "human output lists faces"
expect_status 0 "face detect --json" "$CUSTOS" face detect --json "$demo/sample1.jpg"
[ "$(json_get "$T/out" 'len(d["faces"])')" = 3 ] && ok || fail "detect --json: face count"
[ "$(json_get "$T/out" 'sorted(d["faces"][0]["box"].keys()) == ["height","width","x","y"]')" = True ] \
  && ok || fail "detect --json: box keys"
[ "$(json_get "$T/out" '"landmarks" in d["faces"][0] or "descriptor" in d["faces"][0]')" = False ] \
  && ok || fail "detect --json has no landmarks or descriptor"
[ "$(json_get "$T/out" 'all(a["score"] >= b["score"] for a, b in zip(d["faces"], d["faces"][1:]))')" = True ] \
  && ok || fail "detect --json: descending scores"
[ "$(json_get "$T/out" '(d["width"], d["height"]) == (1920, 1280)')" = True ] && ok || fail "detect --json: size"

expect_status 0 "face embed --json" "$CUSTOS" face embed --json "$demo/sample2.jpg"
[ "$(json_get "$T/out" 'all(len(f["landmarks"]) == 68 and len(f["descriptor"]) == 128 for f in d["faces"])')" = True ] \
  && ok || fail "embed --json: 68 landmarks and 128 floats per face"
[ "$(json_get "$T/out" 'all(f["quality"]["sharpness"] > 0 for f in d["faces"])')" = True ] \
  && ok || fail "embed --json: sharpness"

# Several images: one JSON line each, in argument order, models loaded once.
expect_status 0 "embed several images" "$CUSTOS" face embed --json --threads 2 \
  "$demo"/sample1.jpg "$demo"/sample2.jpg "$demo"/sample3.jpg "$demo"/sample4.jpg \
  "$demo"/sample5.jpg "$demo"/sample6.jpg
expect_lines 6 "$T/out" "one JSON line per image"
cp "$T/out" "$T/embed2.jsonl"
files=$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["file"].rsplit("/",1)[1] for l in open(sys.argv[1])))' "$T/out")
[ "$files" = "sample1.jpg sample2.jpg sample3.jpg sample4.jpg sample5.jpg sample6.jpg" ] && ok \
  || fail "JSON lines in argument order: $files"

# The thread count does not change the numbers.
expect_status 0 "embed on one thread" "$CUSTOS" face embed --json --threads 1 \
  "$demo"/sample1.jpg "$demo"/sample2.jpg "$demo"/sample3.jpg "$demo"/sample4.jpg \
  "$demo"/sample5.jpg "$demo"/sample6.jpg
expect_same_file "$T/out" "$T/embed2.jsonl" "--threads 1 and --threads 2 give identical output"

# --- agreement with the reference implementation ----------------------------
if [ -f "$ref" ]; then
  python3 - "$ref" "$T/embed2.jsonl" >"$T/parity" 2>&1 <<'EOF'
import json, math, sys
ref = {json.loads(l)["file"]: json.loads(l) for l in open(sys.argv[1]) if l.strip()}
ours = {json.loads(l)["file"].rsplit("/", 1)[1]: json.loads(l) for l in open(sys.argv[2])}
def iou(a, b):
    x0, y0 = max(a["x"], b["x"]), max(a["y"], b["y"])
    x1 = min(a["x"] + a["width"], b["x"] + b["width"]); y1 = min(a["y"] + a["height"], b["y"] + b["height"])
    i = max(0, x1 - x0) * max(0, y1 - y0)
    return i / (a["width"] * a["height"] + b["width"] * b["height"] - i)
n = 0; bad = []; worst = [1.0, 0.0, 0.0]
for name, r in ref.items():
    o = ours[name]
    if len(o["faces"]) != len(r["faces"]): bad.append(f"{name}: {len(o['faces'])} faces, reference {len(r['faces'])}")
    for rf in r["faces"]:
        f = max(o["faces"], key=lambda f: iou(f["box"], rf["box"]))
        v = iou(f["box"], rf["box"])
        lm = sum(math.dist(p, q) for p, q in zip(f["landmarks"], rf["landmarks"])) / 68
        dd = math.dist(f["descriptor"], rf["descriptor"])
        worst = [min(worst[0], v), max(worst[1], lm), max(worst[2], dd)]
        if v < 0.95 or lm > 1.0 or dd > 0.01: bad.append(f"{name}: IoU {v:.4f}, landmarks {lm:.3f} px, descriptor {dd:.4f}")
        n += 1
print(f"faces {n}; IoU min {worst[0]:.5f}; landmarks mean max {worst[1]:.4f} px; descriptor max {worst[2]:.2e}")
for b in bad: print("BAD", b)
sys.exit(1 if bad or n != 22 else 0)
EOF
  if [ $? -eq 0 ]; then ok; else fail "parity with $ref: $(cat "$T/parity")"; fi
  cat "$T/parity"
else
  echo "skipped: parity (no $ref)"
fi

# --- compare ----------------------------------------------------------------
expect_status 0 "compare an image with itself" "$CUSTOS" face compare --json "$demo/sample1.jpg" "$demo/sample1.jpg"
[ "$(json_get "$T/out" '(d["distance"], d["threshold"], d["same"])')" = "(0.0, 0.6, True)" ] && ok \
  || fail "compare with itself: $(cat "$T/out")"
expect_status 0 "compare two photos" "$CUSTOS" face compare "$demo/sample1.jpg" "$demo/sample4.jpg"
expect_grep '^distance [0-9.]+: (same person|different people)' "$T/out" "compare human output"

# --- other detector and alignment --------------------------------------------
expect_status 0 "tiny detector" "$CUSTOS" face detect --json --detector tiny "$demo/sample1.jpg"
[ "$(json_get "$T/out" 'len(d["faces"]) >= 2')" = True ] && ok || fail "tiny detector finds faces"
expect_status 0 "similarity alignment" "$CUSTOS" face embed --json --align similarity "$demo/sample1.jpg"
cp "$T/out" "$T/sim.json"
"$CUSTOS" face embed --json "$demo/sample1.jpg" >"$T/refal.json"
d=$(python3 -c 'import json,math,sys; a=json.load(open(sys.argv[1]))["faces"][0]["descriptor"]; b=json.load(open(sys.argv[2]))["faces"][0]["descriptor"]; print(0 < math.dist(a,b) < 0.6)' "$T/sim.json" "$T/refal.json")
[ "$d" = True ] && ok || fail "similarity descriptor differs from the reference one but is the same person"

# --- hostile images -------------------------------------------------------------
python3 - "$T" <<'EOF'
import struct, sys, zlib
t = sys.argv[1]
def png(w, h, rows):
    def chunk(k, d): return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xffffffff)
    raw = b"".join(b"\0" + r for r in rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(f"{t}/one.png", "wb").write(png(1, 1, [b"\x80\x80\x80"]))
open(f"{t}/strip.png", "wb").write(png(20000, 10, [bytes((x * 7) & 255 for x in range(60000))] * 10))
def chunk(k, d): return struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d) & 0xffffffff)
open(f"{t}/huge.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)) + chunk(b"IEND", b""))
open(f"{t}/empty.jpg", "wb").write(b"")
open(f"{t}/text.jpg", "w").write("not an image\n")
EOF
head -c 20000 "$demo/sample1.jpg" >"$T/truncated.jpg"
for f in empty.jpg text.jpg huge.png truncated.jpg; do
  expect_status 3 "hostile image $f" "$CUSTOS" face embed "$T/$f"
  expect_lines 1 "$T/err" "$f: one line on stderr"
  expect_grep "^custos: .*$f" "$T/err" "$f: error names the file"
done
for f in one.png strip.png; do
  expect_status 0 "degenerate image $f" "$CUSTOS" face embed --json "$T/$f"
  [ "$(json_get "$T/out" 'len(d["faces"])')" = 0 ] && ok || fail "$f: no face expected"
done
expect_status 3 "several images, one bad" "$CUSTOS" face detect --json "$demo/sample1.jpg" \
  "$T/text.jpg" "$demo/sample2.jpg"
expect_lines 2 "$T/out" "the good images are still processed"
expect_lines 1 "$T/err" "the bad one gets one line"
expect_status 3 "compare with a bad image" "$CUSTOS" face compare "$demo/sample1.jpg" "$T/text.jpg"
expect_status 3 "compare with no face" "$CUSTOS" face compare "$demo/sample1.jpg" "$T/one.png"
expect_grep 'no face found' "$T/err" "no face named"

# --- eval verify on a tiny pairs set built from the demo photos -----------------
mkdir -p "$T/root/A" "$T/root/B"
cp "$demo/sample1.jpg" "$T/root/A/A_0001.jpg"
cp "$demo/sample1.jpg" "$T/root/A/A_0002.jpg"
cp "$demo/sample5.jpg" "$T/root/B/B_0001.jpg"
printf '1\nA\t1\t2\nA\t1\tB\t1\n' >"$T/pairs.txt"
expect_status 0 "eval verify --json" "$CUSTOS" eval verify --root "$T/root" --pairs "$T/pairs.txt" --json
[ "$(json_get "$T/out" '(d["pairs"], d["missing_pairs"], d["fixed"]["accuracy"])')" = "(2, 0, 1.0)" ] && ok \
  || fail "eval verify figures: $(cat "$T/out")"
expect_grep 'verify: 3/3 images' "$T/err" "progress on stderr"
printf '1\nA\t1\t3\nA\t1\tB\t1\n' >"$T/pairs2.txt"
expect_status 0 "eval verify with an unreadable image" "$CUSTOS" eval verify --root "$T/root" --pairs "$T/pairs2.txt"
expect_grep 'no face found: +0 images \(1 unreadable\), 1 pairs' "$T/out" "missing image counted"
printf '1\nA\t1\n' >"$T/badpairs.txt"
expect_status 3 "malformed pairs file" "$CUSTOS" eval verify --root "$T/root" --pairs "$T/badpairs.txt"

lfw="${CUSTOS_FACES_DATA:-$CUSTOS_SOURCE_DIR/../shared/data/faces}"
if [ -d "$lfw/lfw-gray" ]; then
  expect_status 0 "eval verify on 20 LFW pairs" "$CUSTOS" eval verify --root "$lfw/lfw-gray" \
    --pairs "$lfw/lfw-gray-protocol/pairsDevTest.txt" --limit 20 --threads 2 --json
  [ "$(json_get "$T/out" 'd["pairs"] == 20 and d["fixed"]["accuracy"] >= 0.8')" = True ] && ok \
    || fail "LFW sample: $(cat "$T/out")"
else
  echo "skipped: LFW sample (no $lfw/lfw-gray)"
fi

finish
