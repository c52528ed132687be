#!/usr/bin/env bash
# custos policy check|show (CLI.md): help and usage errors; the policy in
# force, its SHA-256 and its parameters (cross-checked with Python's TOML
# reader); policy files with errors refused naming the line; --policy
# extending the statute table; every malformed request of
# tests/data/requests/cases.json refused with exit 3, the field named on
# stderr and in the --json document; no side effects; and, when the models
# are present, every other case of cases.json through the real face engine
# (GOV-01..09), with probe photos cut from a demo photo: one clear face, the
# same face blurred and shrunk, no face, three faces.
. "$(dirname "$0")/lib.sh"

data="${CUSTOS_TEST_DATA:-$CUSTOS_SOURCE_DIR/tests/data}/requests"
default_policy="$CUSTOS_SOURCE_DIR/policy/default.policy"
unset CUSTOS_DB

# --- help and usage errors ---------------------------------------------------
expect_status 0 "policy check --help" "$CUSTOS" policy check --help
expect_grep '^  custos policy check REQUEST.json' "$T/out" "usage line"
expect_grep 'MALFORMED' "$T/out" "help says what a malformed request gives"
expect_grep '--on YYYY-MM-DD' "$T/out" "help lists --on"
expect_status 0 "policy show --help" "$CUSTOS" policy show --help
expect_status 0 "custos --help lists policy check" "$CUSTOS" --help
expect_grep 'policy check' "$T/out" "policy check in the command list"
expect_status 2 "policy check without a request" "$CUSTOS" policy check
expect_status 2 "policy check with two requests" "$CUSTOS" policy check a.json b.json
expect_status 2 "impossible --on" "$CUSTOS" policy check "$data/gov08_sketch.json" --on 2019-02-30
expect_grep '^custos: policy check: --on' "$T/err" "bad --on named"
expect_status 2 "--on in another format" "$CUSTOS" policy check "$data/gov08_sketch.json" --on 03/02/2019
expect_status 2 "unknown option" "$CUSTOS" policy check "$data/gov08_sketch.json" --frobnicate
expect_status 5 "missing request file" "$CUSTOS" policy check "$T/nope.json"
expect_grep '^custos: policy check: .*nope.json' "$T/err" "missing request named"

# --- the policy in force -----------------------------------------------------------
want_sha=$(sha256sum "$default_policy" | cut -d' ' -f1)
expect_status 0 "policy show --json" "$CUSTOS" policy show --json
[ "$(json_get "$T/out" 'd["sha256"]')" = "$want_sha" ] && ok ||
  fail "the built-in policy's SHA-256 is policy/default.policy's"
[ "$(json_get "$T/out" 'd["source"]')" = "built-in default" ] && ok || fail "source of the default"
cp "$T/out" "$T/show.json"
expect_status 0 "policy show --policy default.policy" "$CUSTOS" policy show --json --policy "$default_policy"
[ "$(json_get "$T/out" 'd["sha256"]')" = "$want_sha" ] && ok || fail "same SHA-256 with --policy"
expect_status 0 "policy show (human)" "$CUSTOS" policy show
expect_grep "^sha256 +$want_sha" "$T/out" "human output shows the SHA-256"
expect_grep '14 days' "$T/out" "human output shows the order age"

# The default file is TOML, and custos reads the values Python's TOML reader reads.
if python3 -c 'import tomllib' 2>/dev/null; then
  run python3 - "$default_policy" "$T/show.json" <<'EOF'
import json, sys, tomllib
t = tomllib.load(open(sys.argv[1], "rb"))
p = json.load(open(sys.argv[2]))
want = {
    "order_max_age_days": t["requests"]["order_max_age_days"],
    "candidates": t["search"]["candidates"],
    "search_threshold": t["search"]["threshold"],
    "dedup_threshold": t["search"]["dedup_threshold"],
    "probe_min_face_px": t["probe"]["min_face_px"],
    "probe_min_sharpness": t["probe"]["min_sharpness"],
    "retention_days": t["records"]["retention_days"],
    "checkpoint_every": t["audit"]["checkpoint_every"],
    "max_failed_logins": t["accounts"]["max_failed_logins"],
}
got = p["params"]
bad = [k for k in want if float(want[k]) != float(got[k])]
if bad or p["not_collected"] != t["fields"]["not_collected"]:
    print("differ:", bad, want, got)
    sys.exit(1)
EOF
  [ "$status" -eq 0 ] && ok || fail "default.policy read by tomllib and by custos differ: $(cat "$T/out")"
else
  echo "note: python3 has no tomllib; TOML cross-check skipped"
fi

# --- policy files with errors: exit 3, the line named ---------------------------------
printf '# site\n[requests]\norder_max_age_days = "14"\n' >"$T/bad.policy"
expect_status 3 "wrong type in a policy file" "$CUSTOS" policy show --policy "$T/bad.policy"
expect_grep 'bad.policy:3: requests.order_max_age_days: expected an integer' "$T/err" "wrong type: line and key"
printf '[requests]\norder_max_age_days = 14\nfavourite = 1\n' >"$T/bad.policy"
expect_status 3 "unknown key in a policy file" "$CUSTOS" policy show --policy "$T/bad.policy"
expect_grep 'bad.policy:3: requests.favourite: unknown key' "$T/err" "unknown key: line and key"
printf '[search]\ncandidates = 5\ncandidates = 5\n' >"$T/bad.policy"
expect_status 3 "duplicate key in a policy file" "$CUSTOS" policy show --policy "$T/bad.policy"
expect_grep 'bad.policy:3: search.candidates: duplicate key' "$T/err" "duplicate key: line and key"
printf '[statutes]\nmixed = [\n  "8 U.S.C. 1326",\n]\n' >"$T/bad.policy"
expect_status 3 "reclassifying a default statute" "$CUSTOS" policy check "$data/gov08_sketch.json" --policy "$T/bad.policy"
expect_grep 'bad.policy:3: statutes.mixed: .*immigration in the default policy' "$T/err" "reclassification refused"
expect_status 5 "missing policy file" "$CUSTOS" policy show --policy "$T/none.policy"

# A site policy that extends the table is used, and named by its SHA-256.
printf '[statutes]\nmixed = ["18 U.S.C. 2252"]\n' >"$T/site.policy"
expect_status 0 "policy check --policy" "$CUSTOS" policy check --json --on 2019-03-02 \
  --policy "$T/site.policy" "$data/gov08_sketch.json"
[ "$(json_get "$T/out" 'd["reasons"]')" = "['ESCALATE_MIXED_OFFENSE', 'REJECT_PROBE_NOT_A_PHOTO']" ] &&
  ok || fail "--policy: 18 U.S.C. 2252 made mixed: $(cat "$T/out")"
[ "$(json_get "$T/out" 'd["offense_classes"]')" = "{'18 U.S.C. 2252': 'mixed'}" ] && ok || fail "--policy: class"
[ "$(json_get "$T/out" 'd["policy_sha256"]')" = "$(sha256sum "$T/site.policy" | cut -d' ' -f1)" ] &&
  ok || fail "--policy: the site file's SHA-256 in the result"

# --- GOV-08 without the engine: a sketch needs no models --------------------------------
expect_status 0 "sketch probe (no models needed)" env CUSTOS_MODELS="$T/nomodels" \
  "$CUSTOS" policy check --json --on 2019-03-02 "$data/gov08_sketch.json"
[ "$(json_get "$T/out" 'd["decision"], d["reasons"], d["reviews"]')" = "('reject', ['REJECT_PROBE_NOT_A_PHOTO'], [])" ] &&
  ok || fail "sketch: $(cat "$T/out")"
expect_status 0 "human output" "$CUSTOS" policy check --on 2019-03-02 "$data/gov08_sketch.json"
expect_grep 'reject' "$T/out" "human output: decision"
expect_grep 'REJECT_PROBE_NOT_A_PHOTO +GOV-08' "$T/out" "human output: reason and rule"
expect_grep '18 U.S.C. 2252 -> 18 U.S.C. 2252, criminal' "$T/out" "human output: offense"

# --- every malformed request: exit 3, MALFORMED, the field named ------------------------
run python3 - "$CUSTOS" "$data" <<'EOF'
import json, subprocess, sys
custos, data = sys.argv[1], sys.argv[2]
doc = json.load(open(data + "/cases.json"))
bad = n = 0
for c in doc["cases"]:
    if "malformed" not in c:
        continue
    n += 1
    p = subprocess.run([custos, "policy", "check", "--json", "--on", "2019-03-02", data + "/" + c["request"]],
                       capture_output=True, text=True, env={"CUSTOS_MODELS": "/nonexistent"})
    why = None
    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = None
    if p.returncode != 3:
        why = "exit %d" % p.returncode
    elif not out or out.get("decision") != "reject" or out.get("reasons") != ["MALFORMED"]:
        why = "stdout %r" % p.stdout
    elif out.get("field") != c["malformed"] or out.get("offense_classes") != {} or out.get("reviews") != []:
        why = "field %r" % out.get("field")
    elif not p.stderr.startswith("custos: policy check: " + c["malformed"]):
        why = "stderr %r" % p.stderr
    elif "message" in c and c["message"] not in p.stderr:
        why = "stderr %r lacks %r" % (p.stderr, c["message"])
    if why:
        bad += 1
        print("FAIL: %s: %s" % (c["request"], why))
print("%d malformed requests" % n)
sys.exit(1 if bad or n < 30 else 0)
EOF
[ "$status" -eq 0 ] && ok || fail "malformed requests: $(cat "$T/out")"
expect_status 3 "malformed, human output" "$CUSTOS" policy check "$data/malformed_impossible_date.json"
expect_grep '^custos: policy check: legal_process.expires: not a date \(2019-02-30\)$' "$T/err" \
  "malformed: the field and the value on stderr"
expect_grep '^hint: .*MALFORMED' "$T/err" "malformed: hint"
[ ! -s "$T/out" ] && ok || fail "malformed without --json prints nothing on stdout"
expect_status 3 "GOV-09: nationality refused" "$CUSTOS" policy check "$data/gov09_nationality.json"
expect_grep 'nationality: unknown key \(GOV-09' "$T/err" "GOV-09 named"

# --- no side effects --------------------------------------------------------------------
mkdir -p "$T/cwd"
(cd "$T/cwd" && "$CUSTOS" policy check --on 2019-03-02 "$data/gov08_sketch.json" >/dev/null 2>&1)
[ -z "$(ls -A "$T/cwd")" ] && ok || fail "policy check wrote files: $(ls -A "$T/cwd")"

# --- every case through the real face engine -------------------------------------------
demo="$CUSTOS_MODELS_DIR/demo/sample1.jpg"
if [ ! -f "$CUSTOS_MODELS_DIR/model/ssd_mobilenetv1_model.bin" ] || [ ! -f "$demo" ]; then
  echo "skipped: models or demo photos not found in $CUSTOS_MODELS_DIR (make models)"
  finish
  exit
fi
expect_status 5 "photo probe with missing models" env CUSTOS_MODELS="$T/nomodels" \
  "$CUSTOS" policy check --on 2019-03-02 "$data/valid_federal_court_order.json"
expect_grep '^hint: ' "$T/err" "missing models: hint"

# The request folder again, with real photos under the probe names: one clear
# face cut from the demo photo, the same face blurred and at a quarter of its
# size, a blank picture and the whole photo of three people.
cp -r "$data" "$T/req"
expect_status 0 "demo photo to PPM" "$CUSTOS" image convert "$demo" "$T/demo.ppm"
run python3 - "$T/demo.ppm" "$T/req" <<'EOF'
import struct, sys, zlib
src, out = sys.argv[1], sys.argv[2]
b = open(src, "rb").read()
fields, i = [], 0
while len(fields) < 4:
    while b[i:i + 1].isspace():
        i += 1
    j = i
    while not b[j:j + 1].isspace():
        j += 1
    fields.append(int(b[i:j]) if fields else b[i:j])
    i = j
w, h = fields[1], fields[2]
px = b[i + 1:]
def crop(x, y, cw, ch):
    return [list(px[((y + r) * w + x) * 3:((y + r) * w + x + cw) * 3]) for r in range(ch)]
def png(name, rows):
    ch, cw = len(rows), len(rows[0]) // 3
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    open(out + "/" + name, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", cw, ch, 8, 2, 0, 0, 0))
                                       + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
def blur(rows, radius):
    # Two box blurs of radius `radius`, each along rows then columns, with running sums.
    ch, cw = len(rows), len(rows[0]) // 3
    def box(vals):
        n, acc = len(vals), [0]
        for x in vals:
            acc.append(acc[-1] + x)
        return [(acc[min(n - 1, k + radius) + 1] - acc[max(0, k - radius)]) //
                (min(n - 1, k + radius) - max(0, k - radius) + 1) for k in range(n)]
    planes = [[[r[x * 3 + c] for x in range(cw)] for r in rows] for c in range(3)]
    for _ in range(2):
        for c in range(3):
            p = [box(r) for r in planes[c]]
            cols = [box([p[y][x] for y in range(ch)]) for x in range(cw)]
            planes[c] = [[cols[x][y] for x in range(cw)] for y in range(ch)]
    return [[planes[c][y][x] for x in range(cw) for c in range(3)] for y in range(ch)]
face = crop(300, 250, 400, 450)
png("probe.png", face)
png("probe-blurred.png", blur(face, 4))
png("probe-small.png", [[v for j in range(0, len(r) // 3, 4) for v in r[j * 3:j * 3 + 3]] for r in face[::4]])
png("probe-noface.png", [[128] * 600 for _ in range(200)])
open(out + "/face.ppm", "wb").write(b"P6\n400 450\n255\n" + b"".join(bytes(r) for r in face))
EOF
[ "$status" -eq 0 ] && ok || fail "probe photos: $(cat "$T/err")"
cp "$demo" "$T/req/probe-crowd.jpg"
skip_jpeg=1
if command -v cjpeg >/dev/null 2>&1 && cjpeg -quality 90 -outfile "$T/req/probe.jpg" "$T/req/face.ppm"; then
  skip_jpeg=0
fi

run python3 - "$CUSTOS" "$T/req" "$skip_jpeg" <<'EOF'
import json, subprocess, sys
custos, data, skip_jpeg = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
doc = json.load(open(data + "/cases.json"))
d = doc["defaults"]
bad = n = 0
for c in doc["cases"]:
    if "malformed" in c:
        continue
    req = json.load(open(data + "/" + c["request"]))
    if skip_jpeg and req["probe"]["image"] == "probe.jpg":
        continue
    n += 1
    on = c.get("on", d["on"])
    p = subprocess.run([custos, "policy", "check", "--json", "--on", on, data + "/" + c["request"]],
                       capture_output=True, text=True)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = {}
    want_reviews = c.get("reviews", [] if c["decision"] == "reject" else ["intake", "manager", "governor"])
    want = (0, c["decision"], c["reasons"], c.get("offense_classes", d["offense_classes"]), want_reviews)
    got = (p.returncode, out.get("decision"), out.get("reasons"), out.get("offense_classes"), out.get("reviews"))
    if got != want:
        bad += 1
        print("FAIL: %s on %s (%s): got %r, expected %r; probe %r; stderr %r"
              % (c["request"], on, c.get("note", ""), got, want, out.get("probe"), p.stderr))
print("%d cases through the face engine" % n)
sys.exit(1 if bad or n < 50 else 0)
EOF
[ "$status" -eq 0 ] && ok || fail "cases through the face engine: $(cat "$T/out")"
cat "$T/out" | tail -1

# What the engine measured on the photos, as the human output shows it.
expect_status 0 "one clear face" "$CUSTOS" policy check --on 2019-03-02 "$T/req/valid_federal_court_order.json"
expect_grep 'probe: 1 face, best [0-9]+ px, sharpness' "$T/out" "human output: probe facts"
expect_grep 'reviews: intake, manager, governor' "$T/out" "human output: reviews"

# A probe whose pixels are cut off: MALFORMED when it is decoded.
cp "$data/probe-corrupt.png" "$T/req/probe.png"
expect_status 3 "corrupt probe photo" "$CUSTOS" policy check --json --on 2019-03-02 "$T/req/valid_federal_court_order.json"
[ "$(json_get "$T/out" 'd["field"]')" = "probe.image" ] && ok || fail "corrupt probe: field $(cat "$T/out")"
finish
