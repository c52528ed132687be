#!/usr/bin/env bash
# custos import and purge-field driven through the real binary (docs/import.md):
# usage and header errors (nothing imported), every reject reason with its
# row number and column, RFC 4180 quoting, columns in any order, GOV-19's
# dropped birthplace, idempotency and renewals, de-duplication (a second photo
# of the same person opens a case, another person does not; again on LFW when
# ../shared/data is there), kill -9 at random moments followed by a re-run,
# the purge with the database files searched for the erased bytes, and the
# marker test: unique values in every sensitive field of 100 holders appear in
# no output, no rejects file and no audit entry (GOV-18).
. "$(dirname "$0")/lib.sh"

export CUSTOS_TEST_FAST_KDF=1
export CUSTOS_DB="$T/custos.db"
ADMIN_PW='correct horse battery staple'
export CUSTOS_PASSWORD="$ADMIN_PW"
unset CUSTOS_NEW_PASSWORD
faces_dir=${CUSTOS_FACES_DIR:-$CUSTOS_SOURCE_DIR/../shared/data/faces}

# sql DB QUERY: prints the rows of a query (python's sqlite3, read-only).
sql() {
  python3 -c 'import sqlite3,sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
for r in c.execute(sys.argv[2]): print("|".join(str(v) for v in r))' "$1" "$2"
}

# csv FILE: writes stdin, a Python list of rows (lists of strings), as RFC 4180.
csv() {
  python3 -c 'import ast,csv,sys
rows = ast.literal_eval(sys.stdin.read())
with open(sys.argv[1], "w", newline="") as f:
    csv.writer(f, lineterminator="\r\n").writerows(rows)' "$1"
}

HEAD="[['license_no','first_name','middle_name','last_name','dob','photo']]"

# --- usage and refusals that need no photos ---------------------------------------------
expect_status 0 "import --help" "$CUSTOS" import --help
expect_grep 'rejects' "$T/out" "import --help: the rejects file"
expect_status 0 "purge-field --help" "$CUSTOS" purge-field --help
CUSTOS_NEW_PASSWORD="$ADMIN_PW" expect_status 0 "init" "$CUSTOS" init --admin alice
CUSTOS_NEW_PASSWORD='examiner password 1' expect_status 0 "add an examiner" \
  "$CUSTOS" user add bob --role examiner --trained-until 2999-01-01 --as alice
mkdir -p "$T/empty"
expect_status 2 "import without --holders" "$CUSTOS" import --photos "$T/empty" --as alice
expect_status 2 "import without --as" "$CUSTOS" import --holders x.csv --photos "$T/empty"
expect_status 2 "import --jobs 0" "$CUSTOS" import --holders x.csv --photos "$T/empty" --jobs 0 \
  --as alice
expect_status 2 "import --batch 5000" "$CUSTOS" import --holders x.csv --photos "$T/empty" \
  --batch 5000 --as alice
expect_status 2 "purge-field without a field" "$CUSTOS" purge-field --as alice
expect_status 5 "a missing CSV file" "$CUSTOS" import --holders "$T/none.csv" --photos "$T/empty" \
  --as alice
echo "$HEAD" | csv "$T/h.csv"
expect_status 5 "a missing photos folder" "$CUSTOS" import --holders "$T/h.csv" \
  --photos "$T/none" --as alice
expect_status 4 "an examiner may not import" env CUSTOS_PASSWORD='examiner password 1' \
  "$CUSTOS" import --holders "$T/h.csv" --photos "$T/empty" --as bob
expect_status 4 "an examiner may not purge" env CUSTOS_PASSWORD='examiner password 1' \
  "$CUSTOS" purge-field ssn --as bob
expect_status 3 "purge-field of a field that is not sensitive" "$CUSTOS" purge-field last_name \
  --as alice
expect_grep 'not a sensitive field' "$T/err" "purge-field: the message says why"

# A header with an unknown, a repeated or a missing column refuses the file before
# anything is imported, and never quotes the cell (it could be a person's data).
echo "[['license_no','first_name','middle_name','last_name','dob','photo','SECRET-HEADER-CELL'],
      ['X1','A','','B','1980-01-01','p.png','v']]" | csv "$T/unknown.csv"
expect_status 3 "an unknown column" "$CUSTOS" import --holders "$T/unknown.csv" \
  --photos "$T/empty" --as alice
expect_grep 'column 7' "$T/err" "unknown column: named by position"
expect_no_grep 'SECRET-HEADER-CELL' "$T/err" "unknown column: the cell is not quoted"
[ ! -e "$T/unknown.rejects.csv" ] && ok || fail "a refused header wrote a rejects file"
echo "[['license_no','first_name','middle_name','last_name','dob','photo','dob']]" |
  csv "$T/twice.csv"
expect_status 3 "a column twice" "$CUSTOS" import --holders "$T/twice.csv" --photos "$T/empty" \
  --as alice
expect_grep 'dob twice' "$T/err" "a column twice: named"
echo "[['license_no','first_name','last_name','dob','photo']]" | csv "$T/missing.csv"
expect_status 3 "a missing column" "$CUSTOS" import --holders "$T/missing.csv" \
  --photos "$T/empty" --as alice
expect_grep 'no middle_name column' "$T/err" "a missing column: named"
expect_status 0 "status" "$CUSTOS" status --json
[ "$(json_get "$T/out" 'd["holders"]')" = 0 ] && ok || fail "refused files imported something"
[ "$(json_get "$T/out" 'd["schema_version"] >= 4')" = True ] && ok || fail "schema version"

if [ ! -f "$CUSTOS_MODELS_DIR/model/ssd_mobilenetv1_model.bin" ] ||
  [ ! -f "$CUSTOS_MODELS_DIR/demo/sample1.jpg" ]; then
  echo "skipped: models or demo photos not found in $CUSTOS_MODELS_DIR (make models)"
  finish
  exit
fi

# --- the photos: faces cut from the demo photos -------------------------------------------
P="$T/photos"
run python3 "$CUSTOS_SOURCE_DIR/tests/data/import/make_photos.py" "$CUSTOS" \
  "$CUSTOS_MODELS_DIR/demo" "$CUSTOS_SOURCE_DIR/tests/data/reference/demo.jsonl" "$P"
[ "$status" -eq 0 ] && ok || fail "making the photos: $(cat "$T/err")"
# Faces 04 (not found when cut this tightly) and 12 (0.46 from face 02, near the
# threshold) are left out of the sets below; the others are >= 0.51 apart.
FACES=(00 01 02 03 05 06 07 08 09 10 11 13 14 15 16 17 18 19 20 21)
mkdir -p "$P/sub" "$P/adir" && cp "$P/face-05.png" "$P/sub/inner.png"
ln -s "$P/face-06.png" "$P/link.png"
ln -s /etc/hostname "$P/escape.png"
mkfifo "$P/fifo.png"

# --- every reason, quoting, column order ---------------------------------------------------
# Columns in another order than CLI.md lists them, with two sensitive ones.
cat >"$T/r.csv" <<'EOF'
photo,dob,license_no,last_name,first_name,middle_name,ssn,birthplace
face-00.png,1980-01-31,R01,"O'Neil, Jr.","Ann ""Annie""",,111-00-0001,Tacoma
sub/inner.png,1975-12-01,R02,Smith,Bo,Q,,
link.png,1990-06-15,R03,Lee,Cy,,111-00-0003,
face-01.png,1980-01-01,R04,Wu,Di
face-02.png,1980-01-01,R05,Wu,"Di"x,,,
face-02.png,1980-01-01,R 06,Wu,Di,,,
face-02.png,1980-01-01,R07,"Multi
Line",Di,,,
face-02.png,2001-02-29,R08,Wu,Di,,,
face-02.png,2999-01-01,R09,Wu,Di,,,
face-02.png,1850-01-01,R10,Wu,Di,,,
face-03.png,1980-01-01,R01,Other,Name,,,
/etc/hostname,1980-01-01,R12,Wu,Di,,,
../photos/face-02.png,1980-01-01,R13,Wu,Di,,,
escape.png,1980-01-01,R14,Wu,Di,,,
nothere.png,1980-01-01,R15,Wu,Di,,,
adir,1980-01-01,R16,Wu,Di,,,
fifo.png,1980-01-01,R17,Wu,Di,,,
corrupt.png,1980-01-01,R18,Wu,Di,,,
notimage.png,1980-01-01,R19,Wu,Di,,,
blank.png,1980-01-01,R20,Wu,Di,,,
crowd.png,1980-01-01,R21,Wu,Di,,,
small.png,1980-01-01,R22,Wu,Di,,,
blurred.png,1980-01-01,R23,Wu,Di,,,
face-03.png,1980-01-01,R24,Wu,Di,,,

EOF
expect_status 0 "import: every reason" "$CUSTOS" import --holders "$T/r.csv" --photos "$P" \
  --jobs 2 --batch 5 --json --as alice
cp "$T/out" "$T/r.json"
[ "$(json_get "$T/r.json" 'd["accepted"]')" = 4 ] && ok || fail "accepted: $(cat "$T/r.json")"
[ "$(json_get "$T/r.json" 'd["rejected"]')" = 20 ] && ok || fail "rejected: $(cat "$T/r.json")"
[ "$(json_get "$T/r.json" 'd["not_collected_by"]["birthplace"]')" = 1 ] && ok ||
  fail "GOV-19 drop counted: $(cat "$T/r.json")"
[ "$(json_get "$T/r.json" 'd["rejects_file"]')" = "$T/r.rejects.csv" ] && ok ||
  fail "the rejects file is beside the CSV"
expect_grep 'rows refused; see ' "$T/err" "refused rows are pointed out on stderr"
expect_grep 'warning: 1 birthplace values dropped.*GOV-19' "$T/err" "GOV-19: a warning with the count"
R="$T/r.rejects.csv"
expect_grep '^row,line,reason,column,message$' "$R" "rejects: header"
expect_lines 21 "$R" "rejects: one line per refused row"
# row (the header is row 1), line, reason, column
for want in '5,5,MALFORMED_ROW,""' '6,6,MALFORMED_ROW,""' '7,7,INVALID_FIELD,"license_no"' \
  '8,8,INVALID_FIELD,"last_name"' '9,10,BAD_DATE,"dob"' '10,11,BAD_DATE,"dob"' \
  '11,12,BAD_DATE,"dob"' '12,13,CONFLICT,"license_no"' '13,14,PHOTO_PATH,"photo"' \
  '14,15,PHOTO_PATH,"photo"' '15,16,PHOTO_PATH,"photo"' '16,17,PHOTO_MISSING,"photo"' \
  '17,18,PHOTO_UNREADABLE,"photo"' '18,19,PHOTO_UNREADABLE,"photo"' \
  '19,20,PHOTO_CORRUPT,"photo"' '20,21,PHOTO_CORRUPT,"photo"' '21,22,NO_FACE,"photo"' \
  '22,23,MANY_FACES,"photo"' '23,24,FACE_TOO_SMALL,"photo"' '24,25,FACE_BLURRED,"photo"'; do
  if grep -q -F -- "$want," "$R"; then ok; else fail "rejects: no line '$want' in: $(cat "$R")"; fi
done
for v in "O'Neil" Annie Multi Tacoma 111-00-00 hostname nothere 2001-02-29 2999 1850 'R 06'; do
  expect_no_grep "$v" "$R" "rejects: no value ($v)"
done
[ "$(stat -c %a "$R")" = 600 ] && ok || fail "rejects file mode $(stat -c %a "$R")"
[ "$(sql "$CUSTOS_DB" "SELECT last_name FROM holders WHERE license_no = 'R01'")" = "O'Neil, Jr." ] &&
  ok || fail "quoted field with a comma"
[ "$(sql "$CUSTOS_DB" "SELECT first_name FROM holders WHERE license_no = 'R01'")" = 'Ann "Annie"' ] &&
  ok || fail "quoted field with doubled quotes"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM holder_sensitive WHERE field = 'birthplace'")" = 0 ] &&
  ok || fail "GOV-19: birthplace stored"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM holder_sensitive WHERE field = 'ssn'")" = 2 ] &&
  ok || fail "ssn stored for R01 and R03"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM templates")" = 4 ] && ok || fail "templates"
n=$(sql "$CUSTOS_DB" "SELECT count(*) FROM audit_entry WHERE CAST(entry AS TEXT) LIKE '%holder.enroll%'")
[ "$n" = 4 ] && ok || fail "one holder.enroll entry per accepted row: $n"
n=$(sql "$CUSTOS_DB" "SELECT count(*) FROM audit_entry WHERE CAST(entry AS TEXT) LIKE '%NOT_COLLECTED_DROPPED%' AND CAST(entry AS TEXT) LIKE '%\"count\":\"1\"%'")
[ "$n" = 1 ] && ok || fail "GOV-19: the drop is counted in the audit entry: $n"
n=$(sql "$CUSTOS_DB" "SELECT count(*) FROM audit_entry WHERE CAST(entry AS TEXT) LIKE '%import.run%rows\":\"4\",\"rows_failed\":\"20\"%'")
[ "$n" = 1 ] && ok || fail "import.run entry with the counts: $n"

# --- idempotency and renewals ----------------------------------------------------------------
cp "$R" "$T/r.rejects.first"
expect_status 0 "the same import again" "$CUSTOS" import --holders "$T/r.csv" --photos "$P" \
  --json --as alice
[ "$(json_get "$T/out" '(d["accepted"], d["renewals"], d["already_present"], d["rejected"])')" = \
  "(0, 0, 4, 20)" ] && ok || fail "again: $(cat "$T/out")"
[ "$(json_get "$T/out" 'd["photos_processed"]')" -le 6 ] && ok ||
  fail "present rows are not described again: $(cat "$T/out")"
expect_same_file "$T/r.rejects.first" "$R" "again: the same rejects file"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM photos")" = 4 ] && ok || fail "again: photos"
# The same holder with a new photo is a renewal; with other data, a conflict.
# Columns the file does not have are not compared: R02 has no ssn column here.
echo "[['photo','dob','license_no','last_name','first_name','middle_name'],
      ['face-05-alt.png','1975-12-01','R02','Smith','Bo','Q'],
      ['face-08.png','1990-06-15','R03','Lee','Cy','Z']]" | csv "$T/renew.csv"
expect_status 0 "a renewal" "$CUSTOS" import --holders "$T/renew.csv" --photos "$P" --json \
  --as alice
[ "$(json_get "$T/out" '(d["renewals"], d["rejected"])')" = "(1, 1)" ] && ok ||
  fail "renewal: $(cat "$T/out")"
expect_grep '^3,3,CONFLICT,' "$T/renew.rejects.csv" "renewal: R03 with another middle name is a conflict"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM photos p JOIN holders h ON h.id = p.holder_id WHERE h.license_no = 'R02'")" = 2 ] &&
  ok || fail "renewal: two photos"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM dedup_cases")" = 0 ] && ok ||
  fail "a holder's own earlier photo opens no case"

# --- de-duplication ---------------------------------------------------------------------------
echo "[['license_no','first_name','middle_name','last_name','dob','photo'],
      ['D1','Al','','One','1970-01-01','face-07.png'],
      ['D2','Bea','','Two','1971-01-01','face-07-alt.png'],
      ['D3','Cal','','Three','1972-01-01','face-08.png']]" | csv "$T/dedup.csv"
expect_status 0 "dedup import" "$CUSTOS" import --holders "$T/dedup.csv" --photos "$P" --json \
  --as alice
[ "$(json_get "$T/out" 'd["dedup_cases"]')" = 1 ] && ok || fail "dedup: one case: $(cat "$T/out")"
q="SELECT a.license_no, b.license_no, c.state FROM dedup_cases c JOIN holders a ON a.id = c.holder_a JOIN holders b ON b.id = c.holder_b"
[ "$(sql "$CUSTOS_DB" "$q")" = "D1|D2|open" ] && ok || fail "dedup: the case names D1 and D2: $(sql "$CUSTOS_DB" "$q")"
n=$(sql "$CUSTOS_DB" "SELECT count(*) FROM audit_entry WHERE CAST(entry AS TEXT) LIKE '%dedup.open%'")
[ "$n" = 1 ] && ok || fail "dedup: recorded: $n"
expect_no_grep 'distance' "$T/out" "dedup: no distance in the summary"
n=$(sql "$CUSTOS_DB" "SELECT count(*) FROM audit_entry WHERE CAST(entry AS TEXT) LIKE '%threshold%' OR CAST(entry AS TEXT) LIKE '%distance%'")
[ "$n" = 0 ] && ok || fail "dedup: no distance in the log"

# The same on LFW (several photos of one person), when the shared data is there.
lfw="$faces_dir/lfw-gray"
if [ -d "$lfw/George_W_Bush" ] && [ -d "$lfw/Colin_Powell" ]; then
  mkdir -p "$T/lfw"
  for i in 1 2 3 4 5 6; do cp "$lfw/George_W_Bush/George_W_Bush_000$i.jpg" "$T/lfw/"; done
  for i in 1 2 3; do cp "$lfw/Colin_Powell/Colin_Powell_000$i.jpg" "$T/lfw/"; done
  run "$CUSTOS" face embed --json "$T"/lfw/*.jpg
  # The closest usable pair of one person, and a photo of another person far from both.
  pick=$(python3 - "$T/out" <<'EOF'
import json, math, sys
d = {}
for line in open(sys.argv[1]):
    j = json.loads(line)
    f = j["faces"]
    if len(f) == 1 and f[0]["quality"]["sharpness"] >= 12 and f[0]["quality"]["box_size"] >= 70:
        d[j["file"].rsplit("/", 1)[1]] = f[0]["descriptor"]
dist = lambda a, b: math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
bush = sorted(k for k in d if k.startswith("George"))
pairs = sorted((dist(d[a], d[b]), a, b) for i, a in enumerate(bush) for b in bush[i + 1:])
if not pairs or pairs[0][0] > 0.35:
    sys.exit(0)
_, a, b = pairs[0]
far = [k for k in d if k.startswith("Colin") and min(dist(d[k], d[a]), dist(d[k], d[b])) > 0.6]
if far:
    print(a, b, far[0])
EOF
)
  if [ -n "$pick" ]; then
    set -- $pick
    echo "[['license_no','first_name','middle_name','last_name','dob','photo'],
          ['L1','G','','W','1946-07-06','$1'], ['L2','Gw','','Bush','1946-07-06','$2'],
          ['L3','C','','P','1937-04-05','$3']]" | csv "$T/lfw.csv"
    # A database of its own.
    CUSTOS_NEW_PASSWORD="$ADMIN_PW" "$CUSTOS" init --db "$T/lfw.db" --admin alice >/dev/null 2>&1
    expect_status 0 "LFW dedup import" "$CUSTOS" import --db "$T/lfw.db" --holders "$T/lfw.csv" \
      --photos "$T/lfw" --json --as alice
    [ "$(json_get "$T/out" '(d["accepted"], d["dedup_cases"])')" = "(3, 1)" ] && ok ||
      fail "LFW: two photos of one person open one case: $(cat "$T/out")"
    [ "$(sql "$T/lfw.db" "$q")" = "L1|L2|open" ] && ok || fail "LFW: the case names L1 and L2"
  else
    echo "skipped: LFW de-duplication: no clear same-person pair among the first photos"
  fi
else
  echo "skipped: LFW de-duplication ($lfw not found)"
fi

# --- kill -9 at random moments, then a full run -----------------------------------------------
export CUSTOS_DB="$T/kill.db"
CUSTOS_NEW_PASSWORD="$ADMIN_PW" expect_status 0 "init (kill)" "$CUSTOS" init --admin alice
python3 - "$T/kill.csv" "${FACES[@]}" <<'EOF'
import csv, sys
rows = [["license_no", "first_name", "middle_name", "last_name", "dob", "photo", "ssn"]]
for k, n in enumerate(sys.argv[2:]):
    rows.append(["K%02d" % k, "First%d" % k, "", "Last%d" % k, "1960-01-%02d" % (k + 1),
                 "face-%s.png" % n, "900-00-%04d" % k])
    rows.append(["K%02dB" % k, "Other%d" % k, "M", "Last%d" % k, "1961-02-%02d" % (k + 1),
                 "face-%s-alt.png" % n, ""])
with open(sys.argv[1], "w", newline="") as f:
    csv.writer(f).writerows(rows)
EOF
kills=0
counts=()
# Each run is killed once the database holds at least `target` holders (so
# the kills land at different points whatever the machine's speed), after a
# further random pause; the first is killed while it starts up.
for target in 0 4 11 19 26 30; do
  "$CUSTOS" import --holders "$T/kill.csv" --photos "$P" --jobs 2 --batch 3 --as alice \
    >"$T/kill.out" 2>&1 &
  pid=$!
  waited=0
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 600 ]; do
    h=$(sql "$CUSTOS_DB" "SELECT count(*) FROM holders" 2>/dev/null || echo 0)
    [ "${h:-0}" -ge "$target" ] && break
    sleep 0.2
    waited=$((waited + 1))
  done
  sleep "$(python3 -c 'import random; print(round(random.uniform(0.05, 0.6), 2))')"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null
  h=$(sql "$CUSTOS_DB" "SELECT count(*) FROM holders")
  p=$(sql "$CUSTOS_DB" "SELECT count(*) FROM photos")
  t=$(sql "$CUSTOS_DB" "SELECT count(*) FROM templates")
  # Every committed row is whole: as many photos and templates as holders.
  [ "$h" = "$p" ] && [ "$p" = "$t" ] && ok || fail "after a kill: $h holders, $p photos, $t templates"
  counts+=("$h")
done
echo "holders committed when each import was killed: ${counts[*]}"
echo "killed $kills imports"
expect_status 0 "the import after the kills" "$CUSTOS" import --holders "$T/kill.csv" \
  --photos "$P" --jobs 2 --json --as alice
[ "$(json_get "$T/out" 'd["rejected"]')" = 0 ] && ok || fail "after kills: $(cat "$T/out")"
[ "$(sql "$CUSTOS_DB" "SELECT count(*), count(DISTINCT license_no) FROM holders")" = "40|40" ] && ok ||
  fail "after kills: holders $(sql "$CUSTOS_DB" "SELECT count(*), count(DISTINCT license_no) FROM holders")"
[ "$(sql "$CUSTOS_DB" "SELECT count(*), count(DISTINCT holder_id || hex(sha256)) FROM photos")" = "40|40" ] &&
  ok || fail "after kills: photos duplicated"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM templates")" = 40 ] && ok || fail "after kills: templates"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM holder_sensitive")" = 20 ] && ok || fail "after kills: ssn"
# Each alternative photo opens exactly one case with its original, whatever was killed.
[ "$(sql "$CUSTOS_DB" "SELECT count(*), count(DISTINCT holder_a || '-' || holder_b) FROM dedup_cases")" = "20|20" ] &&
  ok || fail "after kills: cases $(sql "$CUSTOS_DB" "SELECT count(*) FROM dedup_cases")"
n=$(sql "$CUSTOS_DB" "SELECT count(*) FROM audit_entry WHERE CAST(entry AS TEXT) LIKE '%holder.enroll%'")
[ "$n" = 40 ] && ok || fail "after kills: one enrolment entry per holder: $n"
expect_status 0 "after kills: the log verifies" "$CUSTOS" audit verify
ls "$T"/kill.rejects.csv.tmp >/dev/null 2>&1 && fail "a temporary rejects file was left" || ok
expect_status 0 "and once more" "$CUSTOS" import --holders "$T/kill.csv" --photos "$P" --json \
  --as alice
[ "$(json_get "$T/out" '(d["accepted"], d["already_present"], d["photos_processed"])')" = \
  "(0, 40, 0)" ] && ok || fail "once more: $(cat "$T/out")"

# --- purge-field: the bytes leave the files -----------------------------------------------------
mark="PURGEMARK$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
echo "[['license_no','first_name','middle_name','last_name','dob','photo','testing_info'],
      ['P1','Pa','','Ur','1980-05-05','face-09.png','$mark'],
      ['P2','Pe','','Ur','1980-05-06','face-10.png','$mark-2']]" | csv "$T/purge.csv"
expect_status 0 "import for the purge" "$CUSTOS" import --holders "$T/purge.csv" --photos "$P" \
  --as alice
found=0
for f in "$CUSTOS_DB" "$CUSTOS_DB-wal" "$CUSTOS_DB-shm"; do
  [ -f "$f" ] && grep -q -a "$mark" "$f" && found=1
done
[ "$found" = 1 ] && ok || fail "the planted value is in the database before the purge"
expect_status 0 "purge-field testing_info" "$CUSTOS" purge-field testing_info --json --as alice
[ "$(json_get "$T/out" 'd["erased"]')" = 2 ] && ok || fail "purge: $(cat "$T/out")"
for f in "$CUSTOS_DB" "$CUSTOS_DB-wal" "$CUSTOS_DB-shm"; do
  if [ -f "$f" ] && grep -q -a "$mark" "$f"; then fail "purge: the value is still in $f"; else ok; fi
done
expect_no_grep "$mark" "$T/out" "purge: no value in the output"
n=$(sql "$CUSTOS_DB" "SELECT count(*) FROM audit_entry WHERE CAST(entry AS TEXT) LIKE '%field.purge%\"field\":\"testing_info\"%' AND CAST(entry AS TEXT) LIKE '%\"count\":\"2\"%'")
[ "$n" = 1 ] && ok || fail "purge recorded with field and count: $n"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM holder_sensitive WHERE field = 'testing_info'")" = 0 ] &&
  ok || fail "purge: rows left"
expect_status 0 "purge again: nothing more" "$CUSTOS" purge-field testing_info --json --as alice
[ "$(json_get "$T/out" 'd["erased"]')" = 0 ] && ok || fail "purge again: $(cat "$T/out")"
expect_status 0 "after the purge: the log verifies" "$CUSTOS" audit verify

# --- the marker test (GOV-18) -----------------------------------------------------------------
# Unique values in every sensitive field of 100 holders (some rows refused on
# purpose), then every output of every command is searched for them.
export CUSTOS_DB="$T/marker.db"
CUSTOS_NEW_PASSWORD="$ADMIN_PW" "$CUSTOS" init --admin alice >"$T/m-init.out" 2>&1
python3 - "$T/marker.csv" "$T/markers" "${FACES[@]}" <<'EOF'
import csv, random, sys
fields = ["ssn", "mothers_maiden_name", "birthplace", "twin_indicator", "voter_indicator",
          "testing_info", "identity_documents", "previous_license", "parental_id_document"]
faces = sys.argv[3:]
rows = [["license_no", "first_name", "middle_name", "last_name", "dob", "photo"] + fields]
markers = []
tag = "%06x" % random.getrandbits(24)
for k in range(100):
    vals = ["MK%sF%dH%03d" % (tag, j, k) for j in range(len(fields))]
    markers += vals
    photo = "face-%s%s.png" % (faces[k % len(faces)], "" if k % 40 < 20 else "-alt")
    row = ["M%03d" % k, "Given%d" % k, "", "Family%d" % k, "1950-03-%02d" % (k % 28 + 1), photo] + vals
    if k % 10 == 3:
        row[4] = "1950-02-30"              # refused: BAD_DATE
    elif k % 10 == 5:
        row[5] = "missing-%d.png" % k      # refused: PHOTO_MISSING
    elif k % 10 == 7:
        row = row[:-1]                     # refused: MALFORMED_ROW (a field short)
    elif k % 10 == 8:
        row[3] = "Bad\x01Name"             # refused: INVALID_FIELD
    rows.append(row)
rows.append(rows[1][:4] + ["1950-03-02"] + rows[1][5:])  # refused: CONFLICT
with open(sys.argv[1], "w", newline="") as f:
    csv.writer(f).writerows(rows)
open(sys.argv[2], "w").write("\n".join(markers) + "\n")
EOF
outs=()
o() { local n=$1; shift; "$@" >"$T/m-$n.out" 2>"$T/m-$n.err"; outs+=("$T/m-$n.out" "$T/m-$n.err"); }
o import "$CUSTOS" import --holders "$T/marker.csv" --photos "$P" --as alice
o import-json "$CUSTOS" import --holders "$T/marker.csv" --photos "$P" --json --as alice
o import-tty "$CUSTOS" import --holders "$T/marker.csv" --photos "$P" --progress-interval 0.01 \
  --as alice
o status "$CUSTOS" status
o status-json "$CUSTOS" status --json
o users "$CUSTOS" user list --as alice
o users-json "$CUSTOS" user list --json --as alice
o verify "$CUSTOS" audit verify --json
o checkpoint "$CUSTOS" audit checkpoint
o prove "$CUSTOS" audit prove 5 --json
o purge "$CUSTOS" purge-field birthplace --as alice
sql "$CUSTOS_DB" "SELECT CAST(entry AS TEXT) FROM audit_entry" >"$T/m-log.out"
sql "$CUSTOS_DB" "SELECT note FROM audit_checkpoint" >>"$T/m-log.out"
outs+=("$T/m-log.out" "$T/m-init.out" "$T/marker.rejects.csv")
[ "$(json_get "$T/m-import-json.out" '(d["rejected"], d["already_present"])')" = "(41, 60)" ] &&
  ok || fail "marker: $(cat "$T/m-import-json.out")"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM holders")" = 60 ] && ok || fail "marker: 60 holders"
[ "$(sql "$CUSTOS_DB" "SELECT count(*) FROM holder_sensitive")" = 480 ] && ok ||
  fail "marker: 8 collected fields x 60 holders stored"
leaks=$(grep -a -l -F -f "$T/markers" "${outs[@]}" 2>/dev/null)
[ -z "$leaks" ] && ok || fail "marker values found in: $leaks"
# GOV-19: birthplace was never stored, so not even the database files hold it.
grep "F2H" "$T/markers" >"$T/markers-birthplace"
leaks=$(grep -a -l -F -f "$T/markers-birthplace" "$CUSTOS_DB" "$CUSTOS_DB-wal" "$CUSTOS_DB-shm" 2>/dev/null)
[ -z "$leaks" ] && ok || fail "birthplace values in the database files: $leaks"
expect_grep 'BAD_DATE' "$T/marker.rejects.csv" "marker: refused rows listed"

finish
