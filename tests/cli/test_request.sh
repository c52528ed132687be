#!/usr/bin/env bash
# The request workflow end to end on the real binary (POLICY.md GOV-10..18, GOV-21;
# docs/cases.md): users for every role, a small gallery imported from the demo
# photos, requests submitted, reviewed, searched, examined blind, adjudicated and
# answered; the refusals of the separation of duties; markers in every sensitive
# field that must appear in no output.
. "$(dirname "$0")/lib.sh"

export CUSTOS_TEST_FAST_KDF=1
export CUSTOS_DB="$T/custos.db"
PW='correct horse battery staple'
export CUSTOS_PASSWORD="$PW"
export CUSTOS_NEW_PASSWORD="$PW"
ALL="$T/all-output"
: >"$ALL"
# keep every command's stdout and stderr for the marker check (GOV-18)
runk() { run "$@"; cat "$T/out" "$T/err" >>"$ALL"; }
expectk() {
  local want=$1 what=$2
  shift 2
  runk "$@"
  if [ "$status" -eq "$want" ]; then ok; else
    fail "$what: exit $status, expected $want; stderr: $(head -c 400 "$T/err")"
  fi
}

if [ ! -f "$CUSTOS_MODELS_DIR/model/ssd_mobilenetv1_model.bin" ] ||
  [ ! -f "$CUSTOS_MODELS_DIR/demo/sample1.jpg" ]; then
  echo "skipped: models or demo photos not found in $CUSTOS_MODELS_DIR (make models)"
  finish
  exit
fi

# --- setup: users for every role ---------------------------------------------------------
expectk 0 "init" "$CUSTOS" init --admin alice
for u in ian:intake ivy:intake mia:manager gus:governor lee:legal aud:auditor; do
  expectk 0 "user add ${u%%:*}" "$CUSTOS" user add "${u%%:*}" --role "${u##*:}" --as alice
done
expectk 0 "examiner eve" "$CUSTOS" user add eve --role examiner --trained-until 2099-12-31 --as alice
expectk 0 "examiner ed" "$CUSTOS" user add ed --role examiner --trained-until 2099-12-31 --as alice
expectk 0 "examiner old (expired training)" "$CUSTOS" user add old --role examiner \
  --trained-until 2020-01-01 --as alice

# --- a small gallery: faces cut from the demo photos, a marker in every sensitive field ---
P="$T/photos"
run python3 "$CUSTOS_SOURCE_DIR/tests/data/import/make_photos.py" "$CUSTOS" \
  "$CUSTOS_MODELS_DIR/demo" "$CUSTOS_SOURCE_DIR/tests/data/reference/demo.jsonl" "$P"
[ "$status" -eq 0 ] && ok || fail "making the photos: $(cat "$T/err")"
{
  echo "license_no,first_name,middle_name,last_name,dob,photo,ssn,mothers_maiden_name,twin_indicator,voter_indicator,testing_info,identity_documents,previous_license,parental_id_document"
  for f in 00 01 02 03 05 06 07 08; do
    echo "WDL$f,First$f,Mid$f,Last$f,1980-01-$((10#$f + 10)),face-$f.png,MKSSN$f,MKMAIDEN$f,MKTWIN$f,MKVOTER$f,MKTEST$f,MKIDDOC$f,MKPREV$f,MKPARENT$f"
  done
} >"$T/holders.csv"
expectk 0 "import the gallery" "$CUSTOS" import --holders "$T/holders.csv" --photos "$P" --as alice

# --- requests, dated around today --------------------------------------------------------
R="$T/req"
mkdir -p "$R"
cp "$CUSTOS_TEST_DATA/requests/order.pdf" "$R/order.pdf"
cp "$P/face-01-alt.png" "$R/probe.png"
TODAY=$(date -u +%F)
ISSUED=$(date -u -d '-2 days' +%F)
EXPIRES=$(date -u -d '+20 days' +%F)
# mkreq NAME CITATION [TYPE] [FORM]: a federal request with a judge-signed order
mkreq() {
  python3 - "$R/$1.json" "$2" "${3:-court_order}" "${4:-}" "$TODAY" "$ISSUED" "$EXPIRES" <<'PY'
import json, sys
path, cite, typ, form, today, issued, expires = sys.argv[1:8]
lp = {"type": typ, "court_system": "us_article_iii", "court": "U.S. District Court, W.D. Wash.",
      "judge": "Hon. A. Judge", "signed": True, "docket": "2:19-mj-00123",
      "issued": issued, "expires": expires, "document": "order.pdf"}
if form:
    lp["form"] = form
doc = {"received": today,
       "agency": {"name": "Federal Bureau of Investigation", "level": "federal",
                  "department": "DOJ", "component": "FBI"},
       "requester": {"name": "J. Doe", "title": "Special Agent", "contact": "jdoe@example.gov"},
       "case_number": "FBI-SE-0042", "legal_process": lp,
       "offenses": [{"citation": cite, "description": "the offense"}],
       "narrative": "Why this person is believed to be connected to the crime.",
       "probe": {"image": "probe.png", "source": "surveillance"}}
json.dump(doc, open(path, "w"))
PY
}
mkreq csam "18 U.S.C. 2252"
mkreq i200 "18 U.S.C. 2252" administrative_warrant I-200
mkreq reentry "8 U.S.C. 1326"
mkreq mixed "18 U.S.C. 1546"
python3 - "$R/mixed.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["offenses"].append({"citation": "18 U.S.C. 1111"})
json.dump(d, open(sys.argv[1], "w"))
PY

# the case number printed by submit --json
submit() { expectk 0 "submit $1" "$CUSTOS" request submit "$R/$1.json" --json --as ian; json_get "$T/out" 'd["case"]'; }
review() { # CASE STAGE USER [DECISION] [IMMIGRATION] [extra...]
  local c=$1 s=$2 u=$3 d=${4:-approve} i=${5:-no}
  shift 5 2>/dev/null || shift $#
  runk "$CUSTOS" request review "$c" --stage "$s" --decision "$d" --immigration-related "$i" \
    --note "reviewed by $u" --as "$u" "$@"
}
approve_all() {
  review "$1" intake ian && [ "$status" -eq 0 ] && ok || fail "intake review of $1: $(cat "$T/err")"
  review "$1" manager mia && [ "$status" -eq 0 ] && ok || fail "manager review of $1: $(cat "$T/err")"
  review "$1" governor gus && [ "$status" -eq 0 ] && ok || fail "governor review of $1: $(cat "$T/err")"
}
state_of() { "$CUSTOS" request show "$1" --json --as aud | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }

# --- GOV-10/11/13: the main story ------------------------------------------------------------
C1=$(submit csam)
[ "$(state_of "$C1")" = intake ] && ok || fail "a new case waits for the intake review"
expectk 0 "request show as the governor" "$CUSTOS" request show "$C1" --as gus
expectk 0 "request list as the auditor" "$CUSTOS" request list --state intake --json --as aud
[ "$(json_get "$T/out" 'len(d)')" = 1 ] && ok || fail "list --state intake"
expectk 4 "GOV-13: an examiner may not review" "$CUSTOS" request review "$C1" --stage intake \
  --decision approve --immigration-related no --note x --as eve
expectk 3 "GOV-13: a search before the last approval is refused" "$CUSTOS" request search "$C1" --as eve
expectk 3 "GOV-10: the manager review before the intake review" "$CUSTOS" request review "$C1" \
  --stage manager --decision approve --immigration-related no --note x --as mia
review "$C1" intake ian
[ "$status" -eq 0 ] && ok || fail "GOV-11: the submitter may do the intake review: $(cat "$T/err")"
expectk 3 "GOV-10: a second intake review" "$CUSTOS" request review "$C1" --stage intake \
  --decision approve --immigration-related no --note x --as ivy
expectk 4 "GOV-11: the submitter may not do the manager review" "$CUSTOS" request review "$C1" \
  --stage manager --decision approve --immigration-related no --note x --as ian
review "$C1" manager mia
[ "$status" -eq 0 ] && ok || fail "manager review: $(cat "$T/err")"
expectk 4 "GOV-11: one user cannot do two reviews (manager as governor)" "$CUSTOS" request review \
  "$C1" --stage governor --decision approve --immigration-related no --note x --as mia
review "$C1" governor gus
[ "$status" -eq 0 ] && ok || fail "governor review: $(cat "$T/err")"
[ "$(state_of "$C1")" = approved ] && ok || fail "three approvals approve the case"
expectk 4 "GOV-13: a manager cannot search" "$CUSTOS" request search "$C1" --as mia
expectk 4 "GOV-13: an examiner with expired training is refused" "$CUSTOS" request search "$C1" --as old
expectk 0 "GOV-14: the search" "$CUSTOS" request search "$C1" --json --as eve
[ "$(json_get "$T/out" 'd["candidates"]')" = 8 ] && ok || fail "GOV-14: the list: $(cat "$T/out")"
[ "$(json_get "$T/out" 'd["gallery_size"]')" = 8 ] && ok || fail "GOV-14: the gallery size"
expectk 3 "GOV-13: one search per case" "$CUSTOS" request search "$C1" --as eve
expectk 0 "audit log after the search" "$CUSTOS" audit verify --json
sqlq() { python3 -c 'import sqlite3,sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
for r in c.execute(sys.argv[2]): print("|".join(v.decode() if isinstance(v, bytes) else str(v) for v in r))' "$CUSTOS_DB" "$1"; }
# audit entries whose text holds WORD
entries_with() { sqlq "SELECT CAST(entry AS TEXT) FROM audit_entry" | grep -F -- "$1"; }
entry=$(entries_with '"case.search"')
for k in algorithm model gallery_size checkpoint_size threshold candidates; do
  case "$entry" in *"\"$k\""*) ok ;; *) fail "GOV-14: the search's log entry lacks $k: $entry" ;; esac
done
# invariant 5: the probe is not in the gallery
[ "$(sqlq "SELECT count(*) FROM photos")" = 8 ] && ok || fail "the probe entered the gallery"

# --- GOV-15: blind examination ----------------------------------------------------------------
expectk 4 "GOV-15: a manager may not examine" "$CUSTOS" request examine "$C1" --as mia
expectk 0 "examine as eve" "$CUSTOS" request examine "$C1" --photos "$P" --json --as eve
cp "$T/out" "$T/eve.json"
expectk 0 "examine as ed" "$CUSTOS" request examine "$C1" --photos "$P" --json --as ed
cp "$T/out" "$T/ed.json"
expectk 0 "examine as eve again: the same list" "$CUSTOS" request examine "$C1" --photos "$P" --json --as eve
[ "$(json_get "$T/out" '[c["label"] for c in d["candidates"]]')" = "$(json_get "$T/eve.json" '[c["label"] for c in d["candidates"]]')" ] &&
  ok || fail "GOV-15: an examiner's list changes between views"
for f in eve ed; do
  [ "$(json_get "$T/$f.json" 'sorted(set(k for c in d["candidates"] for k in c))')" = "['label', 'photo', 'photo_sha256']" ] &&
    ok || fail "GOV-15: $f's list holds more than label, photo, photo_sha256: $(cat "$T/$f.json")"
  [ "$(json_get "$T/$f.json" 'oct(__import__("os").stat(__import__("os").path.dirname(d["probe"])).st_mode & 0o777)')" = 0o700 ] &&
    ok || fail "GOV-15: the photo folder is not private"
  expect_no_grep 'distance|score|rank|WDL|First|Last' "$T/$f.json" "GOV-15: $f's list reveals a score, rank or identity"
done
[ "$(json_get "$T/eve.json" 'sorted(c["label"] for c in d["candidates"])')" != "$(json_get "$T/ed.json" 'sorted(c["label"] for c in d["candidates"])')" ] &&
  ok || fail "GOV-15: two examiners got the same labels"
# the label each examiner sees for holder WDL01's photo
want=$(sha256sum "$P/face-01.png" | cut -d' ' -f1)
label_of() { json_get "$1" "[c['label'] for c in d['candidates'] if c['photo_sha256'] == '$want'][0]"; }
L_EVE=$(label_of "$T/eve.json")
L_ED=$(label_of "$T/ed.json")
[ -n "$L_EVE" ] && [ -n "$L_ED" ] && ok || fail "the true face is not among the candidates"
[ -f "$(json_get "$T/eve.json" "[c['photo'] for c in d['candidates'] if c['label'] == '$L_EVE'][0]")" ] &&
  ok || fail "GOV-15: the candidate photo was not written"
expectk 3 "GOV-17: no letter before the examination" "$CUSTOS" request respond "$C1" --as ian
expectk 3 "GOV-15: an unknown label" "$CUSTOS" request adjudicate "$C1" --candidate "$L_ED$L_ED" --as eve
expectk 0 "eve marks" "$CUSTOS" request adjudicate "$C1" --candidate "$L_EVE" --as eve
expectk 4 "GOV-15: one mark per examiner" "$CUSTOS" request adjudicate "$C1" --candidate none --as eve
expectk 0 "GOV-15: the case shows a mark count only" "$CUSTOS" request show "$C1" --json --as ed
[ "$(json_get "$T/out" 'd["marks"]')" = 1 ] && ok || fail "GOV-15: show gives the marks"
expect_no_grep "$L_EVE" "$T/out" "GOV-15: ed sees eve's mark"
expectk 0 "ed marks the same candidate" "$CUSTOS" request adjudicate "$C1" --candidate "$L_ED" --as ed
[ "$(state_of "$C1")" = examined ] && ok || fail "two marks make the case examined"

# --- GOV-17: the letter ----------------------------------------------------------------------
expectk 4 "GOV-17: the governor may not see holder records" "$CUSTOS" request respond "$C1" --as gus
expectk 4 "GOV-17: an examiner may not release" "$CUSTOS" request respond "$C1" --as eve
expectk 0 "GOV-17: the letter" "$CUSTOS" request respond "$C1" --json --as ian
cp "$T/out" "$T/letter.json"
[ "$(json_get "$T/letter.json" 'sorted(d)')" = "['agency', 'case', 'identity', 'outcome', 'statement']" ] &&
  ok || fail "GOV-17: the letter's keys: $(cat "$T/letter.json")"
[ "$(json_get "$T/letter.json" 'sorted(d["identity"])')" = "['dob', 'first_name', 'last_name', 'license_no', 'middle_name']" ] &&
  ok || fail "GOV-17: exactly the five fields"
[ "$(json_get "$T/letter.json" 'd["identity"]["license_no"] + " " + d["outcome"]')" = "WDL01 possible_match" ] &&
  ok || fail "GOV-17: the confirmed candidate: $(cat "$T/letter.json")"
expect_grep 'investigative lead' "$T/letter.json" "GOV-17: the lead-only statement"
expect_grep 'not a positive identification' "$T/letter.json" "GOV-17: not a positive identification"
expect_grep 'not probable cause' "$T/letter.json" "GOV-17: not probable cause"
expect_no_grep 'distance|score|WDL00|WDL02|MK' "$T/letter.json" "GOV-18: the letter holds nothing else"
expectk 3 "GOV-17: one letter" "$CUSTOS" request respond "$C1" --as ian
expectk 0 "close the case" "$CUSTOS" request close "$C1" --as ian

# --- GOV-02, GOV-06: rejected at intake, stored with reasons ------------------------------------
C2=$(submit i200)
[ "$(json_get "$T/out" 'd["decision"] + " " + " ".join(d["reasons"])')" = "reject REJECT_NOT_JUDICIAL" ] &&
  ok || fail "GOV-02: an I-200 is not judicial: $(cat "$T/out")"
[ "$(state_of "$C2")" = rejected ] && ok || fail "GOV-02: the rejected case is stored as rejected"
C3=$(submit reentry)
expect_grep 'REJECT_SOLELY_IMMIGRATION' "$T/out" "GOV-06: 8 U.S.C. 1326 only"
[ "$(state_of "$C3")" = rejected ] && ok || fail "GOV-06: rejected"
expectk 3 "GOV-10: a rejected case takes no review" "$CUSTOS" request review "$C3" --stage intake \
  --decision approve --immigration-related no --note x --as ian
n_before=$(sqlq "SELECT count(*) FROM cases")
expectk 3 "a malformed request" "$CUSTOS" request submit "$CUSTOS_TEST_DATA/requests/malformed_unknown_key.json" --as ian
expect_grep 'MALFORMED' "$T/err" "MALFORMED named"
[ "$(sqlq "SELECT count(*) FROM cases")" = "$n_before" ] && ok || fail "a malformed request was stored"
expectk 4 "a manager may not submit" "$CUSTOS" request submit "$R/csam.json" --as mia

# --- GOV-10: an immigration-related answer rejects; GOV-06 mixed needs rests-on ---------------
C4=$(submit csam)
review "$C4" intake ian approve yes
[ "$status" -eq 0 ] && ok || fail "a review with immigration-related yes: $(cat "$T/err")"
[ "$(state_of "$C4")" = rejected ] && ok || fail "GOV-10: immigration-related yes rejects the case"
C5=$(submit mixed)
expect_grep 'ESCALATE_MIXED_OFFENSE' "$T/out" "GOV-06: mixed offense escalates"
review "$C5" intake ivy
review "$C5" manager mia
review "$C5" governor gus
[ "$status" -eq 3 ] && ok || fail "GOV-06: the governor must name the crime the case rests on"
review "$C5" governor gus approve no --rests-on "18 U.S.C. 1546"
[ "$status" -eq 3 ] && ok || fail "GOV-06: an immigration-related crime cannot be what it rests on"
review "$C5" governor gus approve no --rests-on "18 U.S.C. 1111"
[ "$status" -eq 0 ] && ok || fail "GOV-06: resting on 18 U.S.C. 1111: $(cat "$T/err")"
expectk 0 "withdraw" "$CUSTOS" request withdraw "$C5" --note "agency withdrew" --as mia
[ "$(state_of "$C5")" = withdrawn ] && ok || fail "withdrawn"

# --- GOV-04/11: an escalated case needs the legal review first -----------------------------------
mkreq gj "18 U.S.C. 2252" grand_jury_subpoena
C10=$(submit gj)
expect_grep 'ESCALATE_LEGAL_REVIEW' "$T/out" "GOV-04: a grand jury subpoena escalates"
[ "$(state_of "$C10")" = legal ] && ok || fail "GOV-11: the escalated case waits for the legal review"
expectk 3 "GOV-11: no intake review before the legal one" "$CUSTOS" request review "$C10" --stage intake \
  --decision approve --immigration-related no --note x --as ian
expectk 4 "GOV-11: the legal review needs the legal role" "$CUSTOS" request review "$C10" --stage legal \
  --decision approve --immigration-related no --note x --as mia
review "$C10" legal lee
[ "$status" -eq 0 ] && ok || fail "GOV-11: legal review: $(cat "$T/err")"
[ "$(state_of "$C10")" = intake ] && ok || fail "GOV-11: after the legal review, intake"
expectk 0 "withdraw C10" "$CUSTOS" request withdraw "$C10" --as ian

# --- GOV-15/16: two examiners who disagree: inconclusive, nothing released ---------------------
C6=$(submit csam)
approve_all "$C6"
expectk 0 "search C6" "$CUSTOS" request search "$C6" --as eve
expectk 0 "examine C6 eve" "$CUSTOS" request examine "$C6" --photos "$P" --json --as eve
L_EVE=$(label_of "$T/out")
expectk 0 "examine C6 ed" "$CUSTOS" request examine "$C6" --json --as ed
expectk 0 "eve marks" "$CUSTOS" request adjudicate "$C6" --candidate "$L_EVE" --as eve
expectk 0 "ed marks none" "$CUSTOS" request adjudicate "$C6" --candidate none --as ed
expectk 0 "the letter of a disagreement" "$CUSTOS" request respond "$C6" --json --as mia
[ "$(json_get "$T/out" 'str(d["identity"]) + " " + d["outcome"]')" = "None inconclusive" ] &&
  ok || fail "GOV-15: disagreement is inconclusive and releases nothing: $(cat "$T/out")"
expect_grep 'No identification made' "$T/out" "GOV-16/17: no identification made"

# --- GOV-16: a candidate past the threshold is examined but never released --------------------
printf '[search]\nthreshold = 0.01\n' >"$T/strict.policy"
C7=$(submit csam)
approve_all "$C7"
expectk 0 "search C7 under a strict threshold" "$CUSTOS" request search "$C7" --policy "$T/strict.policy" --as ed
expectk 0 "examine C7 eve" "$CUSTOS" request examine "$C7" --photos "$P" --json --as eve
L_EVE=$(label_of "$T/out")
expectk 0 "examine C7 ed" "$CUSTOS" request examine "$C7" --photos "$P" --json --as ed
L_ED=$(label_of "$T/out")
expectk 0 "eve marks C7" "$CUSTOS" request adjudicate "$C7" --candidate "$L_EVE" --as eve
expectk 0 "ed marks C7" "$CUSTOS" request adjudicate "$C7" --candidate "$L_ED" --as ed
expectk 0 "GOV-16: the letter" "$CUSTOS" request respond "$C7" --json --as ian
[ "$(json_get "$T/out" 'str(d["identity"]) + " " + d["outcome"]')" = "None possible_match" ] &&
  ok || fail "GOV-16: a candidate past the threshold was released: $(cat "$T/out")"
expect_grep 'No identification made' "$T/out" "GOV-16: no identification made"
expectk 0 "close C7" "$CUSTOS" request close "$C7" --as mia

# --- GOV-21: retention purge -------------------------------------------------------------------
expectk 4 "GOV-21: purge needs an administrator" "$CUSTOS" request purge-expired --as aud
expectk 0 "GOV-21: nothing is past retention yet" "$CUSTOS" request purge-expired --json --as alice
[ "$(json_get "$T/out" 'd["purged"]')" = 0 ] && ok || fail "GOV-21: purged too early"
# the cases closed 91 days ago (the test moves their closing time back)
python3 -c 'import sqlite3,sys
c = sqlite3.connect(sys.argv[1]); c.execute("UPDATE cases SET closed = ?2 WHERE closed IS NOT NULL AND id <> ?1", (int(sys.argv[2]), sys.argv[3])); c.commit()' \
  "$CUSTOS_DB" "$C6" "$(date -u -d '-91 days' +%FT%TZ)"
expectk 0 "GOV-21: purge after 91 days" "$CUSTOS" request purge-expired --json --as alice
[ "$(json_get "$T/out" 'd["purged"] >= 5')" = True ] && ok || fail "GOV-21: the closed cases were not purged: $(cat "$T/out")"
[ "$(sqlq "SELECT count(*) FROM cases WHERE id = $C1 AND probe IS NULL")" = 1 ] &&
  ok || fail "GOV-21: the closed case keeps its probe"
[ "$(sqlq "SELECT record FROM cases WHERE id = $C1" | python3 -c 'import json,sys; d = json.load(sys.stdin); print("candidates" in d or "views" in d)')" = False ] &&
  ok || fail "GOV-21: the closed case keeps its candidate list"
probe_sha=$(sha256sum "$R/probe.png" | cut -d' ' -f1)
[ "$(entries_with '"case.purge"' | grep -c -F "$probe_sha")" -ge 1 ] &&
  ok || fail "GOV-21: the probe's SHA-256 is not in the log"
[ "$(sqlq "SELECT count(*) FROM cases WHERE id = $C6 AND probe IS NOT NULL")" = 1 ] &&
  ok || fail "GOV-21: a case closed today was purged"
expectk 0 "the log verifies" "$CUSTOS" audit verify

# --- separation of duties: every command against every role ---------------------------------------
C8=$(submit csam)
for u in alice ian mia gus lee eve aud; do
  role=$(case $u in alice) echo admin ;; ian) echo intake ;; mia) echo manager ;; gus) echo governor ;;
    lee) echo legal ;; eve) echo examiner ;; aud) echo auditor ;; esac)
  allowed() { case " $1 " in *" $role "*) echo 0 ;; *) echo 4 ;; esac; }
  w=$(allowed "intake")
  [ "$w" = 0 ] || expectk 4 "submit as $role" "$CUSTOS" request submit "$R/csam.json" --as $u
  [ "$w" = 0 ] || expectk 4 "GOV-11: intake review as $role" "$CUSTOS" request review "$C8" --stage intake \
    --decision approve --immigration-related no --note x --as $u
  w=$(allowed "examiner")
  [ "$w" = 0 ] || expectk 4 "GOV-13: search as $role" "$CUSTOS" request search "$C8" --as $u
  [ "$w" = 0 ] || expectk 4 "GOV-15: examine as $role" "$CUSTOS" request examine "$C1" --as $u
  [ "$w" = 0 ] || expectk 4 "GOV-15: adjudicate as $role" "$CUSTOS" request adjudicate "$C1" --candidate none --as $u
  w=$(allowed "intake manager")
  [ "$w" = 0 ] || expectk 4 "GOV-17: respond as $role" "$CUSTOS" request respond "$C8" --as $u
  [ "$w" = 0 ] || expectk 4 "withdraw as $role" "$CUSTOS" request withdraw "$C8" --as $u
  [ "$w" = 0 ] || expectk 4 "close as $role" "$CUSTOS" request close "$C8" --as $u
  expectk "$(allowed admin)" "GOV-21: purge-expired as $role" "$CUSTOS" request purge-expired --as $u
  expectk "$(allowed auditor)" "GOV-22: report as $role" "$CUSTOS" report --format json --as $u
  [ "$role" = admin ] || expectk 4 "import-history as $role" "$CUSTOS" request import-history "$T/none.csv" --as $u
  expectk 0 "show as $role" "$CUSTOS" request show "$C8" --as $u
  expectk 0 "list as $role" "$CUSTOS" request list --as $u
done
expectk 0 "withdraw C8" "$CUSTOS" request withdraw "$C8" --as ian
# the text letter, to a file
C9=$(submit csam)
approve_all "$C9"
expectk 0 "search C9" "$CUSTOS" request search "$C9" --as eve
expectk 0 "examine C9 eve" "$CUSTOS" request examine "$C9" --json --as eve
expectk 0 "examine C9 ed" "$CUSTOS" request examine "$C9" --json --as ed
expectk 0 "eve none" "$CUSTOS" request adjudicate "$C9" --candidate none --as eve
expectk 0 "ed none" "$CUSTOS" request adjudicate "$C9" --candidate none --as ed
expectk 0 "GOV-17: the text letter" "$CUSTOS" request respond "$C9" --out "$T/letter.txt" --as ian
expect_grep 'No identification made' "$T/letter.txt" "GOV-15: both none: no identification made"
[ "$(stat -c %a "$T/letter.txt")" = 600 ] && ok || fail "the letter file is not private"
expect_no_grep 'First|Last|WDL' "$T/letter.txt" "GOV-17: no identity without a match"
cat "$T/letter.txt" >>"$ALL"

# --- GOV-22: the oversight report -----------------------------------------------------------------
Y=$(date -u +%Y)
expectk 4 "GOV-22: the report is the auditor's" "$CUSTOS" report --format json --as ian
expectk 0 "GOV-22: the report" "$CUSTOS" report --format json --as aud
cp "$T/out" "$T/report.json"
[ "$(json_get "$T/report.json" "d['years']['$Y']['requests']")" = 10 ] && ok || fail "GOV-22: requests: $(cat "$T/report.json")"
[ "$(json_get "$T/report.json" "d['years']['$Y']['searches']")" = 4 ] && ok || fail "GOV-22: searches"
[ "$(json_get "$T/report.json" "d['years']['$Y']['possible_matches']")" = 2 ] && ok || fail "GOV-22: possible matches"
[ "$(json_get "$T/report.json" "d['years']['$Y']['releases']")" = 1 ] && ok || fail "GOV-22: releases"
[ "$(json_get "$T/report.json" "d['years']['$Y']['searches_by_examiner']")" = "{'ed': 1, 'eve': 3}" ] && ok || fail "GOV-22: searches per examiner"
[ "$(json_get "$T/report.json" "d['years']['$Y']['by_reason']['REJECT_NOT_JUDICIAL']")" = 1 ] && ok || fail "GOV-22: by reason"
[ "$(json_get "$T/report.json" "d['years']['$Y']['reviews']['governor']")" -ge 4 ] && ok || fail "GOV-22: reviews by stage"
[ "$(json_get "$T/report.json" "d['years']['$Y']['by_offense_class']['immigration']")" = 1 ] && ok || fail "GOV-22: offense classes"
run "$CUSTOS" status --json
[ "$(json_get "$T/out" 'd["checkpoint"]["root"]')" = "$(json_get "$T/report.json" 'd["checkpoint"]["root"]')" ] &&
  ok || fail "GOV-22: the report names the log's checkpoint"
expectk 0 "GOV-22: html" "$CUSTOS" report --format html --out "$T/report.html" --as aud
expect_grep '<svg' "$T/report.html" "GOV-22: the html has charts"
expect_grep 'checkpoint' "$T/report.html" "GOV-22: the html names the checkpoint"
expectk 0 "GOV-22: csv" "$CUSTOS" report --format csv --as aud
expect_grep '^year,section,key,value' "$T/out" "GOV-22: csv header"

# --- GOV-22: history consistent with the department's published figures -------------------------
# 53 requests 2013..2017, 13 federal (4 DHS), 40 state or local, none after 2017.
python3 - "$T/history.csv" <<'PY'
import sys
rows = ["received,agency_name,agency_level,department,outcome,offense_class"]
fed = [("U.S. Immigration and Customs Enforcement", "DHS")] * 3 + [("U.S. Secret Service", "DHS")] + \
      [("Federal Bureau of Investigation", "DOJ")] * 6 + [("U.S. Marshals Service", "DOJ")] * 3
for i, (name, dep) in enumerate(fed):
    rows.append(f"{2013 + i % 5}-03-{10 + i:02d},{name},federal,{dep},rejected,criminal")
for i in range(40):
    lvl = "state" if i % 2 else "local"
    name = "Washington State Patrol" if lvl == "state" else '"Police Department, Seattle"'
    out = ["approved", "no_identification", "possible_match", "withdrawn"][i % 4]
    rows.append(f"{2013 + i % 5}-06-{1 + i % 28:02d},{name},{lvl},,{out},criminal")
open(sys.argv[1], "w").write("\n".join(rows) + "\n")
PY
printf 'received,agency_name,agency_level,department,outcome,offense_class\n2014-01-01,X,galactic,,approved,criminal\n' >"$T/bad-history.csv"
expectk 4 "history import needs an administrator" "$CUSTOS" request import-history "$T/history.csv" --as aud
expectk 3 "a bad history row" "$CUSTOS" request import-history "$T/bad-history.csv" --as alice
expect_grep ':2: agency_level' "$T/err" "the bad row named"
expectk 0 "history import" "$CUSTOS" request import-history "$T/history.csv" --json --as alice
[ "$(json_get "$T/out" 'd["imported"]')" = 53 ] && ok || fail "53 rows imported: $(cat "$T/out") $(cat "$T/err")"
expectk 0 "GOV-22: the report of 2013..2019" "$CUSTOS" report --from 2013 --to 2019 --format json --as aud
cp "$T/out" "$T/hist.json"
chk() { [ "$(json_get "$T/hist.json" "$1")" = "$2" ] && ok || fail "GOV-22 history: $1 = $(json_get "$T/hist.json" "$1"), expected $2"; }
chk 'sum(y["requests"] for y in d["years"].values())' 53
chk 'sum(y["by_level"].get("federal", 0) for y in d["years"].values())' 13
chk 'sum(y["by_department"].get("DHS", 0) for y in d["years"].values())' 4
chk 'sum(y["by_level"].get("state", 0) + y["by_level"].get("local", 0) for y in d["years"].values())' 40
chk 'sum(y["by_level"].get("federal", 0) for k, y in d["years"].items() if k > "2017")' 0
chk 'sorted(d["years"])' "['2013', '2014', '2015', '2016', '2017', '2018', '2019']"

# --- GOV-18: markers in every sensitive field appear in no output ------------------------------
expect_no_grep 'MK(SSN|MAIDEN|TWIN|VOTER|TEST|IDDOC|PREV|PARENT)' "$ALL" "GOV-18: a sensitive marker in an output"
finish
