#!/usr/bin/env bash
# The audit log through the real binary (GOV-20, invariant 4): what init and
# the user commands record, `audit verify` on an intact log and on copies of
# the database tampered with directly in SQLite (an edited entry, with and
# without its hashes recomputed; a deleted, two swapped and an inserted entry;
# a truncated log, also with its head and checkpoints rewritten; a removed
# checkpoint; a checkpoint signed by another key; another key in the database),
# `audit checkpoint`, `audit prove` checked by tools/verify-proof with only the
# pinned key (and tampered proofs, entries and checkpoints refused), an
# injected failure of the append failing the change, the signing key's file
# (missing, readable by others, elsewhere), and `audit setup` on a database
# from before the log.
. "$(dirname "$0")/lib.sh"
: "${CUSTOS_VERIFY_PROOF:?CUSTOS_VERIFY_PROOF must name the verify-proof binary}"
VP=$CUSTOS_VERIFY_PROOF

export CUSTOS_TEST_FAST_KDF=1
export CUSTOS_DB="$T/custos.db"
unset CUSTOS_PASSWORD CUSTOS_NEW_PASSWORD CUSTOS_AUDIT_KEY CUSTOS_AUDIT_SEAL_KEY
ADMIN_PW='correct horse battery staple'
USER_PW='examiner password 1'
ORIGIN=custos.test/audit

# sql DB STATEMENTS: runs SQL on a database file behind custos's back.
sql() { sqlite3 "$1" "$2"; }

# py DB SCRIPT: runs Python with `db` (a sqlite3 connection to DB), `leaf(b)`
# and `node(l, r)` (RFC 6962 hashes), committing at the end.
py() {
  python3 - "$1" <<EOF_PY
import hashlib, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
def leaf(b): return hashlib.sha256(b"\\x00" + bytes(b)).digest()
def node(l, r): return hashlib.sha256(b"\\x01" + l + r).digest()
def mth(h):
    if len(h) == 1: return h[0]
    k = 1
    while k * 2 < len(h): k *= 2
    return node(mth(h[:k]), mth(h[k:]))
$2
db.commit()
EOF_PY
}

# tampered NAME: a fresh copy of the intact database (and its key file) to tamper with.
tampered() {
  cp "$CUSTOS_DB" "$T/$1.db"
  cp "$CUSTOS_DB.logkey" "$T/$1.db.logkey"
  echo "$T/$1.db"
}

# expect_detected DESCRIPTION DB PATTERN [ARGS...]: audit verify exits 3 naming PATTERN.
expect_detected() {
  local what=$1 db=$2 pattern=$3
  shift 3
  expect_status 3 "verify detects: $what" "$CUSTOS" audit verify --db "$db" "$@"
  expect_grep "the log was altered: .*$pattern" "$T/err" "$what: the reason is named"
  [ "$(grep -c '^custos: ' "$T/err")" = 1 ] && ok || fail "$what: one error line"
}

# --- init: the key, its file, the first entries -------------------------------
expect_status 0 "init" env CUSTOS_NEW_PASSWORD="$ADMIN_PW" \
  "$CUSTOS" init --admin alice --log-origin "$ORIGIN" --json
KEY=$(json_get "$T/out" 'd["log_key"]')
echo "$KEY" >"$T/pinned.key"
[[ "$KEY" == "$ORIGIN+"* ]] && ok || fail "init: the log key is named after the origin: $KEY"
[ "$(json_get "$T/out" 'd["log_key_file"]')" = "$CUSTOS_DB.logkey" ] && ok ||
  fail "init: the key file is beside the database"
[ "$(stat -c %a "$CUSTOS_DB.logkey")" = 600 ] && ok || fail "init: key file mode 0600"
expect_grep '^PRIVATE\+KEY\+custos\.test/audit\+' "$CUSTOS_DB.logkey" "init: a signer key in the file"
expect_status 3 "init: a bad log origin" env CUSTOS_NEW_PASSWORD="$ADMIN_PW" \
  "$CUSTOS" init --admin alice --log-origin 'has space' --db "$T/bad-origin.db"
expect_grep 'log origin' "$T/err" "bad origin: named"
[ ! -e "$T/bad-origin.db" ] && [ ! -e "$T/bad-origin.db.logkey" ] && ok ||
  fail "a refused init left a database or a key file"

# A second log, with another key but the same name: the forger's.
expect_status 0 "init another log" env CUSTOS_NEW_PASSWORD="$ADMIN_PW" \
  "$CUSTOS" init --admin alice --log-origin "$ORIGIN" --db "$T/other.db" --json
OTHER_KEY=$(json_get "$T/out" 'd["log_key"]')
[ "$OTHER_KEY" != "$KEY" ] && ok || fail "two inits made the same key"

# --- some actions, each recorded ------------------------------------------------
export CUSTOS_PASSWORD="$ADMIN_PW"
expect_status 0 "user add" env CUSTOS_NEW_PASSWORD="$USER_PW" \
  "$CUSTOS" user add bob --role examiner --trained-until 2031-06-30 --as alice
expect_status 0 "user add" env CUSTOS_NEW_PASSWORD="$USER_PW" \
  "$CUSTOS" user add carol --role auditor --as alice
expect_status 4 "a wrong password" env CUSTOS_PASSWORD='not the password' "$CUSTOS" user list --as bob
expect_status 4 "an unknown user" env CUSTOS_PASSWORD='not the password' \
  "$CUSTOS" user list --as 'correct horse'
expect_status 0 "set-training" "$CUSTOS" user set-training bob --until none --as alice
expect_status 0 "unlock" "$CUSTOS" user unlock bob --as alice
expect_status 0 "user list" "$CUSTOS" user list --as alice
expect_status 0 "status" "$CUSTOS" status --json
# 0 log.init, 1 user.add (init); 2 login, 3 user.add bob; 4 login, 5 user.add carol;
# 6 bob's failed login; 7 login, 8 set-training; 9 login, 10 unlock; 11 login (user
# list, which itself records nothing); the unknown user changes nothing and is not recorded.
[ "$(json_get "$T/out" 'd["audit_entries"]')" = 12 ] && ok ||
  fail "status: 12 entries, got $(json_get "$T/out" 'd["audit_entries"]')"
sql "$CUSTOS_DB" "SELECT entry FROM audit_entry ORDER BY idx" >"$T/entries"
expect_grep '"action":"log.init","actor":"system","seq":0' "$T/entries" "entry 0 is log.init"
expect_grep '"action":"user.add","actor":"alice","detail":\{"role":"examiner","target_user":"bob","trained_until":"2031-06-30"\}' \
  "$T/entries" "user add: who, whom, role, training"
expect_grep '"action":"session.login","actor":"alice"' "$T/entries" "a login is recorded"
expect_grep '"action":"session.login_failed","actor":"system","detail":\{"target_user":"bob"\},"reasons":\["WRONG_PASSWORD"\]' \
  "$T/entries" "a failed login: whose account, why"
expect_grep '"action":"user.set_training","actor":"alice","detail":\{"target_user":"bob","trained_until":"none"\}' \
  "$T/entries" "set-training none"
expect_grep '"action":"user.unlock","actor":"alice","detail":\{"target_user":"bob"\}' "$T/entries" "unlock"
# GOV-18 and passwords: nothing typed as a secret or a stray name reaches the log.
expect_no_grep "$ADMIN_PW|$USER_PW|not the password|correct horse|argon2" "$T/entries" \
  "no password or unknown user name in the log"
expect_lines 12 "$T/entries" "one line per entry"

# --- verify an intact log ----------------------------------------------------------
expect_status 0 "verify" "$CUSTOS" audit verify
expect_grep '^audit log intact: 12 entries' "$T/out" "verify: intact"
expect_status 0 "verify --json" "$CUSTOS" audit verify --json
[ "$(json_get "$T/out" 'd["intact"]')" = True ] && ok || fail "verify --json: intact"
[ "$(json_get "$T/out" 'd["entries"]')" = 12 ] && ok || fail "verify --json: entries"
[ "$(json_get "$T/out" 'd["key"]')" = database ] && ok || fail "verify --json: key source"
expect_status 0 "verify with the pinned key" "$CUSTOS" audit verify --key "$KEY"
expect_status 0 "verify with the key from a file" "$CUSTOS" audit verify --key "@$T/pinned.key" --json
[ "$(json_get "$T/out" 'd["key"]')" = pinned ] && ok || fail "verify --key: key source"
expect_status 3 "verify with another key" "$CUSTOS" audit verify --key "$OTHER_KEY"
expect_grep 'another (log )?key' "$T/err" "another key: said so"
expect_status 3 "verify with a malformed key" "$CUSTOS" audit verify --key 'not+a+key'
expect_status 2 "verify: unknown option" "$CUSTOS" audit verify --frob
expect_status 0 "verify needs no login" env -u CUSTOS_PASSWORD "$CUSTOS" audit verify

# --- checkpoints -------------------------------------------------------------------------
expect_status 0 "checkpoint" "$CUSTOS" audit checkpoint --json
[ "$(json_get "$T/out" 'd["signed_new"]')" = True ] && ok || fail "checkpoint: a new one for 12"
[ "$(json_get "$T/out" 'd["size"]')" = 12 ] && ok || fail "checkpoint: size 12"
expect_status 0 "checkpoint again" "$CUSTOS" audit checkpoint
expect_grep "^$ORIGIN\$" "$T/out" "checkpoint: origin line"
expect_grep '^12$' "$T/out" "checkpoint: size line"
expect_grep "^— $ORIGIN " "$T/out" "checkpoint: signature line"
cp "$T/out" "$T/kept-12.cp"
expect_status 0 "checkpoint --json again" "$CUSTOS" audit checkpoint --json
[ "$(json_get "$T/out" 'd["signed_new"]')" = False ] && ok || fail "checkpoint: none new when unchanged"
expect_status 0 "status after checkpoint" "$CUSTOS" status --json
[ "$(json_get "$T/out" 'd["checkpoint"]["size"]')" = 12 ] && ok || fail "status: checkpoint size"
expect_status 0 "verify with a kept checkpoint" "$CUSTOS" audit verify --checkpoint "$T/kept-12.cp"
expect_status 3 "a kept checkpoint of another log" "$CUSTOS" audit verify \
  --checkpoint <("$CUSTOS" audit checkpoint --no-sign --db "$T/other.db")

# --- proofs and tools/verify-proof ------------------------------------------------------
for i in 0 3 11; do
  expect_status 0 "prove entry $i" "$CUSTOS" audit prove $i --out "$T/ev"
  expect_status 0 "verify-proof accepts entry $i" "$VP" --key "$KEY" --checkpoint "$T/ev/checkpoint-12.txt" \
    --entry "$T/ev/entry-$i.json" --proof "$T/ev/proof-$i.json"
  expect_grep "^OK: entry $i is in the log $ORIGIN of 12 entries" "$T/out" "verify-proof: OK for $i"
done
cmp -s <(sql "$CUSTOS_DB" "SELECT entry FROM audit_entry WHERE idx = 3") <(cat "$T/ev/entry-3.json"; echo) &&
  ok || fail "prove: the entry file holds the stored bytes exactly"
expect_status 0 "prove --json" "$CUSTOS" audit prove 5 --json
[ "$(json_get "$T/out" 'd["proof"]["leaf_index"]')" = 5 ] && ok || fail "prove --json: leaf index"
[ "$(json_get "$T/out" 'd["tree_size"]')" = 12 ] && ok || fail "prove --json: tree size"
expect_status 5 "prove a missing entry" "$CUSTOS" audit prove 12
expect_status 2 "prove: not a number" "$CUSTOS" audit prove -1
expect_status 2 "prove: no entry" "$CUSTOS" audit prove
# Tampered evidence is refused by the tool.
E=$T/ev
sed 's/"bob"/"eve"/' "$E/entry-3.json" | tr -d '\n' >"$E/edited.json"
expect_status 1 "verify-proof: an edited entry" "$VP" --key "$KEY" --checkpoint "$E/checkpoint-12.txt" \
  --entry "$E/edited.json" --proof "$E/proof-3.json"
expect_status 1 "verify-proof: another entry's proof" "$VP" --key "$KEY" --checkpoint "$E/checkpoint-12.txt" \
  --entry "$E/entry-3.json" --proof "$E/proof-0.json"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); h=p["hashes"][1]; p["hashes"][1]=("0" if h[0]!="0" else "1")+h[1:]; open(sys.argv[2],"w").write(json.dumps(p,separators=(",",":"),sort_keys=True))' \
  "$E/proof-3.json" "$E/bad-proof.json"
expect_status 1 "verify-proof: an altered proof hash" "$VP" --key "$KEY" --checkpoint "$E/checkpoint-12.txt" \
  --entry "$E/entry-3.json" --proof "$E/bad-proof.json"
expect_status 1 "verify-proof: the wrong key" "$VP" --key "$OTHER_KEY" --checkpoint "$E/checkpoint-12.txt" \
  --entry "$E/entry-3.json" --proof "$E/proof-3.json"
# The root line's first character changed (to B when it is an A).
sed -e '3{/^A/{s/^A/B/;b' -e '};s/^./A/' -e '}' "$E/checkpoint-12.txt" >"$E/bad-cp.txt"
cmp -s "$E/checkpoint-12.txt" "$E/bad-cp.txt" && fail "the altered checkpoint is not altered" || ok
expect_status 1 "verify-proof: an altered checkpoint" "$VP" --key "$KEY" --checkpoint "$E/bad-cp.txt" \
  --entry "$E/entry-3.json" --proof "$E/proof-3.json"

# --- tampering, each on a fresh copy -------------------------------------------------
db=$(tampered edit)
sql "$db" "UPDATE audit_entry SET entry = replace(entry, 'carol', 'mallo') WHERE idx = 5"
expect_detected "an edited entry" "$db" 'entry 5: does not match the stored hash'
json_get_out() { json_get "$T/out" "$1"; }
expect_status 3 "edited: --json" "$CUSTOS" audit verify --db "$db" --json
[ "$(json_get_out 'd["first_bad_entry"]')" = 5 ] && ok || fail "edited: first_bad_entry 5"
[ "$(json_get_out 'd["intact"]')" = False ] && ok || fail "edited: not intact"

db=$(tampered edit-rehash)
py "$db" '
e = db.execute("SELECT entry FROM audit_entry WHERE idx = 5").fetchone()[0]
e = bytes(e).replace(b"carol", b"mallo")
db.execute("UPDATE audit_entry SET entry = ?, leaf_hash = ? WHERE idx = 5", (e, leaf(e)))'
expect_detected "an edited entry with its leaf hash" "$db" 'entry 5: does not match the stored hash of subtree \(level 1'

db=$(tampered delete)
sql "$db" "DELETE FROM audit_entry WHERE idx = 7"
expect_detected "a deleted entry" "$db" 'entry 7: the store lists it as 8'

db=$(tampered swap)
py "$db" '
a = db.execute("SELECT entry, leaf_hash FROM audit_entry WHERE idx = 3").fetchone()
b = db.execute("SELECT entry, leaf_hash FROM audit_entry WHERE idx = 4").fetchone()
db.execute("UPDATE audit_entry SET entry = ?, leaf_hash = ? WHERE idx = 3", b)
db.execute("UPDATE audit_entry SET entry = ?, leaf_hash = ? WHERE idx = 4", a)'
expect_detected "two swapped entries" "$db" 'entry 3: its seq is 4'

db=$(tampered insert)
py "$db" '
for i in range(11, 5, -1):
    db.execute("UPDATE audit_entry SET idx = idx + 1 WHERE idx = ?", (i,))
e = b"{\"action\":\"user.add\",\"actor\":\"alice\",\"detail\":{\"role\":\"admin\",\"target_user\":\"mallory\"},\"seq\":6,\"time\":\"2024-01-01T00:00:00Z\",\"v\":1}"
db.execute("INSERT INTO audit_entry(idx, entry, leaf_hash) VALUES (6, ?, ?)", (e, leaf(e)))'
expect_detected "an inserted entry" "$db" 'entry 7: its seq is 6'

db=$(tampered append)
py "$db" '
e = b"{\"action\":\"user.add\",\"actor\":\"alice\",\"detail\":{\"role\":\"admin\",\"target_user\":\"mallory\"},\"seq\":12,\"time\":\"2024-01-01T00:00:00Z\",\"v\":1}"
db.execute("INSERT INTO audit_entry(idx, entry, leaf_hash) VALUES (12, ?, ?)", (e, leaf(e)))'
expect_detected "an entry added at the end behind the log's back" "$db" 'added behind the log'

db=$(tampered truncate)
sql "$db" "DELETE FROM audit_entry WHERE idx >= 10"
expect_detected "a truncated log" "$db" 'holds only 10 entries \(truncated\)'

# Truncated with the head recomputed and the later checkpoints removed: the log
# agrees with itself, and only a checkpoint kept outside shows the cut.
db=$(tampered truncate-all)
py "$db" '
n = 10
db.execute("DELETE FROM audit_entry WHERE idx >= ?", (n,))
db.execute("DELETE FROM audit_node WHERE (idx + 1) << level > ?", (n,))
db.execute("DELETE FROM audit_checkpoint WHERE tree_size > ?", (n,))
leaves = [bytes(r[0]) for r in db.execute("SELECT leaf_hash FROM audit_entry ORDER BY idx")]
head, pos = struct.pack(">Q", n), 0
for j in range(63, -1, -1):
    if n >> j & 1:
        head += mth(leaves[pos:pos + (1 << j)])
        pos += 1 << j
db.execute("UPDATE audit_head SET head = ?", (head,))'
expect_status 0 "truncated with head and checkpoints: consistent with itself" \
  "$CUSTOS" audit verify --db "$db"
expect_detected "a truncation, by the kept checkpoint" "$db" 'pinned checkpoint 0 \(size 12\).*truncated' \
  --checkpoint "$T/kept-12.cp"

db=$(tampered cp-removed)
sql "$db" "DELETE FROM audit_checkpoint WHERE seq = 0"
expect_detected "a removed checkpoint" "$db" 'checkpoint 0: missing'

db=$(tampered cp-foreign)
other_note=$(sql "$T/other.db" "SELECT note FROM audit_checkpoint ORDER BY seq LIMIT 1")
sqlite3 "$db" "UPDATE audit_checkpoint SET note = CAST(X'$(printf '%s\n' "$other_note" | xxd -p | tr -d '\n')' AS TEXT) WHERE seq = 1"
expect_detected "a checkpoint signed by another key" "$db" 'checkpoint 1: .*(sign|key)'

# The forger also puts their key in the database: verify against the database's
# key then fails on the genuine checkpoints; against the pinned key, on theirs.
db=$(tampered key-swap)
sql "$db" "UPDATE meta SET value = '$OTHER_KEY' WHERE key = 'audit_log_key'"
expect_detected "another key in the database" "$db" 'checkpoint 0: '
expect_detected "another key in the database, pinned key" "$db" 'another log key|checkpoint 0' --key "$KEY"

db=$(tampered head)
py "$db" '
h = bytes(db.execute("SELECT head FROM audit_head").fetchone()[0])
db.execute("UPDATE audit_head SET head = ?", (h[:8] + bytes(32) + h[40:],))'
expect_detected "an altered head" "$db" 'head does not match'

db=$(tampered node)
sql "$db" "UPDATE audit_node SET hash = zeroblob(32) WHERE level = 2 AND idx = 1"
expect_detected "an altered subtree hash" "$db" 'subtree \(level 2, index 1\)'
# Proving from a tampered log is refused too (the stored hashes are checked).
db=$(tampered edit-prove)
sql "$db" "UPDATE audit_entry SET entry = replace(entry, 'carol', 'mallo') WHERE idx = 5"
expect_status 1 "prove an edited entry" "$CUSTOS" audit prove 5 --db "$db"
expect_grep 'does not match its leaf hash' "$T/err" "prove an edited entry: said so"

# --- an append that fails fails the change (invariant 4) ----------------------------------
db=$(tampered inject)
sql "$db" "CREATE TRIGGER fail_user_add BEFORE INSERT ON audit_entry
           WHEN CAST(NEW.entry AS TEXT) LIKE '%\"action\":\"user.add\"%'
           BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
before=$(sql "$db" "SELECT count(*) FROM audit_entry")
run env CUSTOS_NEW_PASSWORD="$USER_PW" "$CUSTOS" user add dave --role intake --as alice --db "$db"
[ "$status" -ne 0 ] && ok || fail "user add with a failing append succeeded"
expect_grep 'injected failure' "$T/err" "failing append: the database's reason"
[ "$(sql "$db" "SELECT count(*) FROM users WHERE name = 'dave'")" = 0 ] && ok ||
  fail "failing append: the user was added anyway"
[ "$(sql "$db" "SELECT count(*) FROM audit_entry")" = $((before + 1)) ] && ok ||
  fail "failing append: only the login's entry is new"
sql "$db" "DROP TRIGGER fail_user_add"
expect_status 0 "failing append: the log is intact" "$CUSTOS" audit verify --db "$db"

# --- the signing key's file ------------------------------------------------------------------
db=$(tampered nokey)
rm "$db.logkey"
expect_status 5 "a change without the key file" env CUSTOS_NEW_PASSWORD="$USER_PW" \
  "$CUSTOS" user add dave --role intake --as alice --db "$db"
expect_grep 'signing key is needed' "$T/err" "no key file: said why"
expect_status 0 "verify without the key file" "$CUSTOS" audit verify --db "$db"
expect_status 0 "checkpoint --no-sign without the key" "$CUSTOS" audit checkpoint --no-sign --db "$db"
expect_status 5 "checkpoint (signing) without the key" "$CUSTOS" audit checkpoint --db "$db"
expect_grep 'no-sign' "$T/err" "checkpoint without the key: the hint names --no-sign"
cp "$CUSTOS_DB.logkey" "$db.logkey"
chmod 644 "$db.logkey"
expect_status 4 "a key file others can read" env CUSTOS_NEW_PASSWORD="$USER_PW" \
  "$CUSTOS" user add dave --role intake --as alice --db "$db"
expect_grep 'chmod 600' "$T/err" "readable key file: the fix is named"
mv "$db.logkey" "$T/elsewhere.key"
chmod 600 "$T/elsewhere.key"
expect_status 0 "the key elsewhere, by \$CUSTOS_AUDIT_KEY" env CUSTOS_AUDIT_KEY="$T/elsewhere.key" \
  CUSTOS_NEW_PASSWORD="$USER_PW" "$CUSTOS" user add dave --role intake --as alice --db "$db"
cp "$T/other.db.logkey" "$db.logkey"
expect_status 1 "another log's key file" env CUSTOS_NEW_PASSWORD="$USER_PW" \
  "$CUSTOS" user add erin --role intake --as alice --db "$db"
expect_grep "does not hold this database's log key" "$T/err" "another log's key: said so"
expect_status 0 "still intact after all that" "$CUSTOS" audit verify --db "$db" --key "$KEY"

# --- a database from before the log ------------------------------------------------------------
db=$(tampered old)
rm -f "$db.logkey"
# Back to schema 2 (steps 1 and 2 made these tables; every later step only adds
# tables, which are dropped, and meta rows, of which the log's are removed).
py "$db" '
v2 = ("meta", "users", "holders", "holder_sensitive", "photos", "templates")
for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE ?",
                       ("table", "sqlite%")).fetchall():
    if t not in v2:
        db.execute("DROP TABLE " + t)
db.execute("DELETE FROM meta WHERE key LIKE ?", ("audit%",))
db.execute("UPDATE meta SET value = ? WHERE key = ?", ("2", "schema_version"))'
latest=$(sql "$CUSTOS_DB" "SELECT value FROM meta WHERE key = 'schema_version'")
expect_status 0 "status migrates a schema-2 database" "$CUSTOS" status --db "$db" --json
[ "$(json_get "$T/out" 'd["schema_version"]')" = "$latest" ] && ok || fail "old database: migrated"
[ "$(json_get "$T/out" '"audit_entries" in d')" = False ] && ok || fail "old database: no log yet"
expect_status 5 "a change before the log is set up" env CUSTOS_NEW_PASSWORD="$USER_PW" \
  "$CUSTOS" user add dave --role intake --as alice --db "$db"
expect_grep 'audit setup' "$T/err" "no log: the command to run is named"
expect_status 0 "audit setup" "$CUSTOS" audit setup --db "$db" --json
[ "$(json_get "$T/out" 'd["log_key_file"]')" = "$db.logkey" ] && ok || fail "setup: key file"
[ "$(stat -c %a "$db.logkey")" = 600 ] && ok || fail "setup: key file mode"
expect_status 0 "a change after setup" env CUSTOS_NEW_PASSWORD="$USER_PW" \
  "$CUSTOS" user add dave --role intake --as alice --db "$db"
expect_status 0 "verify after setup" "$CUSTOS" audit verify --db "$db"
expect_grep 'intact: 3 entries' "$T/out" "after setup: log.init, the login, user.add"
expect_status 3 "audit setup twice" "$CUSTOS" audit setup --db "$db"
expect_grep 'set up already' "$T/err" "setup twice: said so"

finish
