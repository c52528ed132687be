#!/usr/bin/env bash
# custos init, status and user administration driven through the real binary:
# creating a database and its audit log key (and refusing to create either
# twice), status --json,
# adding users as an administrator, as a non-administrator and with a wrong
# password, input checks, locking and unlocking, and refusing a database
# written by a newer custos.
. "$(dirname "$0")/lib.sh"

# Password hashes with libsodium's minimum limits: these tests create many.
export CUSTOS_TEST_FAST_KDF=1
export CUSTOS_DB="$T/custos.db"
unset CUSTOS_PASSWORD CUSTOS_NEW_PASSWORD
ADMIN_PW='correct horse battery staple'
BOB_PW='examiner password 1'

# nontty CMD...: runs CMD without a controlling terminal (no /dev/tty to prompt on).
nontty() { setsid -w "$@" </dev/null; }

# --- before init ------------------------------------------------------------
expect_status 5 "status without a database" "$CUSTOS" status
expect_grep "custos init" "$T/err" "missing database: the hint names custos init"
expect_lines 1 "$T/err" "missing database: one line on stderr"
expect_status 0 "init --help" "$CUSTOS" init --help
expect_grep '--policy' "$T/out" "init --help documents --policy"
expect_grep 'SHA-256' "$T/out" "init --help says what --policy does for now"
expect_status 2 "init without --admin" "$CUSTOS" init
expect_status 2 "init without a password or terminal" nontty "$CUSTOS" init --admin alice
expect_grep 'CUSTOS_NEW_PASSWORD' "$T/err" "no password: the message names the variable"
[ ! -e "$CUSTOS_DB" ] && ok || fail "a failed init left a database behind"
expect_status 3 "init with a bad admin name" env CUSTOS_NEW_PASSWORD="$ADMIN_PW" \
  "$CUSTOS" init --admin 'Robert;drop'
expect_status 3 "init with a short password" env CUSTOS_NEW_PASSWORD=short \
  "$CUSTOS" init --admin alice
expect_grep 'at least|shorter than 12' "$T/err" "short password: the rule is named"
[ ! -e "$CUSTOS_DB" ] && ok || fail "a refused init left a database behind"
expect_status 5 "init with a missing policy file" env CUSTOS_NEW_PASSWORD="$ADMIN_PW" \
  "$CUSTOS" init --admin alice --policy "$T/no-such-policy.json"
[ ! -e "$CUSTOS_DB" ] && ok || fail "init with a missing policy left a database behind"

printf '{"retention_days": 90}\n' >"$T/bad-policy.json"
expect_status 3 "init with a policy file that does not parse" env CUSTOS_NEW_PASSWORD="$ADMIN_PW" \
  "$CUSTOS" init --admin alice --policy "$T/bad-policy.json"
expect_grep 'bad-policy.json:1' "$T/err" "the policy error names the file and line"
[ ! -e "$CUSTOS_DB" ] && ok || fail "init with a bad policy left a database behind"

# --- init -------------------------------------------------------------------
printf '[records]\nretention_days = 90\n\n[audit]\ncheckpoint_every = 7\n' >"$T/policy.json"
expect_status 0 "init" env CUSTOS_NEW_PASSWORD="$ADMIN_PW" \
  "$CUSTOS" init --admin alice --policy "$T/policy.json"
expect_grep 'alice' "$T/out" "init names the administrator"
[ "$(stat -c %a "$CUSTOS_DB")" = 600 ] && ok || fail "the database is readable by others"
# The audit log's signing key beside the database, and its public key printed.
[ "$(stat -c %a "$CUSTOS_DB.logkey")" = 600 ] && ok || fail "the log key file is not mode 0600"
expect_grep 'audit log key .*: [^ ]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$' "$T/out" "init prints the log key"
sed -n 's/^audit log key .*: //p' "$T/out" >"$T/init-key"
expect_no_grep 'PRIVATE' "$T/out" "init does not print the signing key"
cp "$CUSTOS_DB" "$T/before-second-init.db"
expect_status 3 "init twice" env CUSTOS_NEW_PASSWORD="$ADMIN_PW" "$CUSTOS" init --admin mallory
expect_grep 'already exists' "$T/err" "init twice: says a database exists"
expect_lines 2 "$T/err" "init twice: one line and a hint"
expect_same_file "$CUSTOS_DB" "$T/before-second-init.db" "init twice: the database is untouched"
# A key file left where init would write one is never overwritten.
printf 'someone else\n' >"$T/other.db.logkey"
expect_status 3 "init over an existing key file" env CUSTOS_NEW_PASSWORD="$ADMIN_PW" \
  "$CUSTOS" init --admin alice --db "$T/other.db"
expect_grep 'key file already exists' "$T/err" "existing key file: said so"
[ ! -e "$T/other.db" ] && ok || fail "init over a key file created a database"
[ "$(cat "$T/other.db.logkey")" = "someone else" ] && ok || fail "the existing key file was changed"

# --- status -------------------------------------------------------------------
expect_status 0 "status" "$CUSTOS" status
expect_grep '^holders +0$' "$T/out" "status: holders"
expect_grep '^users +1$' "$T/out" "status: users"
expect_status 0 "status --json" "$CUSTOS" status --json
expect_lines 1 "$T/out" "status --json: one document"
for key in holders photos templates schema_version users; do
  [ "$(json_get "$T/out" "type(d['$key']).__name__")" = int ] && ok || fail "status --json: $key"
done
[ "$(json_get "$T/out" 'd["holders"]')" = 0 ] && ok || fail "status --json: holders is 0"
[ "$(json_get "$T/out" 'd["users"]')" = 1 ] && ok || fail "status --json: users is 1"
[ "$(json_get "$T/out" 'd["schema_version"] >= 2')" = True ] && ok || fail "status: schema_version"
[ "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT value FROM meta WHERE key = ?", ("audit_checkpoint_every",)).fetchone()[0])' "$CUSTOS_DB")" = 7 ] &&
  ok || fail "init applies the policy's [audit] checkpoint_every to the log"
want=$(sha256sum "$T/policy.json" | cut -d' ' -f1)
[ "$(json_get "$T/out" 'd["policy_sha256"]')" = "$want" ] && ok ||
  fail "status --json: policy_sha256 is the file's SHA-256"
# The audit log: init's entries and its first signed checkpoint.
[ "$(json_get "$T/out" 'd["audit_entries"]')" = 3 ] && ok ||
  fail "status --json: audit_entries (log.init, policy.set, user.add)"
[ "$(json_get "$T/out" 'd["checkpoint"]["size"]')" = 3 ] && ok || fail "status --json: checkpoint size"
[ "$(json_get "$T/out" 'len(d["checkpoint"]["root"])')" = 64 ] && ok || fail "status --json: checkpoint root"
[ "$(json_get "$T/out" 'd["log_key"]')" = "$(cat "$T/init-key")" ] && ok ||
  fail "status --json: log_key is the one init printed"
[ "$(json_get "$T/out" 'd["cases"]')" = 0 ] && ok || fail "status --json: cases"
json_get "$T/out" 'd["models"]' | grep -qE '^faceapi\.[0-9a-f]{16}\.ssd\.ref$' && ok ||
  fail "status --json: models is the face models' version"
# Without readable models the field is absent, not faked.
expect_status 0 "status with no models" "$CUSTOS" status --json --models "$T/no-models"
[ "$(json_get "$T/out" "'models' in d")" = False ] && ok || fail "status --json: models present"
expect_status 0 "status with --db" "$CUSTOS" status --json --db "$CUSTOS_DB"

# --- user add -------------------------------------------------------------------
export CUSTOS_PASSWORD="$ADMIN_PW"
expect_status 0 "user add by the admin" env CUSTOS_NEW_PASSWORD="$BOB_PW" \
  "$CUSTOS" user add bob --role examiner --trained-until 2031-06-30 --as alice
expect_grep 'bob' "$T/out" "user add names the user"
expect_status 0 "user add --json" env CUSTOS_NEW_PASSWORD="$BOB_PW" \
  "$CUSTOS" user add carol --role auditor --as alice --json
[ "$(json_get "$T/out" 'd["role"]')" = auditor ] && ok || fail "user add --json: role"
expect_status 3 "user add: name taken" env CUSTOS_NEW_PASSWORD="$BOB_PW" \
  "$CUSTOS" user add bob --role intake --as alice
expect_grep 'already exists' "$T/err" "name taken: said so"
expect_status 3 "user add: bad role" env CUSTOS_NEW_PASSWORD="$BOB_PW" \
  "$CUSTOS" user add dave --role wizard --as alice
expect_grep 'examiner' "$T/err" "bad role: the roles are listed"
expect_status 3 "user add: impossible date" env CUSTOS_NEW_PASSWORD="$BOB_PW" \
  "$CUSTOS" user add dave --role examiner --trained-until 2023-02-29 --as alice
expect_grep 'trained-until' "$T/err" "impossible date: the option is named"
expect_status 3 "user add: malformed date" env CUSTOS_NEW_PASSWORD="$BOB_PW" \
  "$CUSTOS" user add dave --role examiner --trained-until 31/12/2030 --as alice
for name in Dave 'd ave' "d'ave" '-dave' "$(printf 'x%.0s' $(seq 65))"; do
  expect_status 3 "user add: bad name '$name'" env CUSTOS_NEW_PASSWORD="$BOB_PW" \
    "$CUSTOS" user add --role intake --as alice -- "$name"
done
expect_status 3 "user add: short password" env CUSTOS_NEW_PASSWORD=short \
  "$CUSTOS" user add dave --role intake --as alice
expect_status 2 "user add without --as" env CUSTOS_NEW_PASSWORD="$BOB_PW" \
  "$CUSTOS" user add dave --role intake
expect_status 2 "user add without --role" env CUSTOS_NEW_PASSWORD="$BOB_PW" \
  "$CUSTOS" user add dave --as alice
expect_status 4 "user add by a non-admin" env CUSTOS_PASSWORD="$BOB_PW" \
  CUSTOS_NEW_PASSWORD="$BOB_PW" "$CUSTOS" user add dave --role intake --as bob
expect_grep 'admin' "$T/err" "non-admin: the role needed is named"
expect_status 4 "user add with a wrong password" env CUSTOS_PASSWORD='not the password' \
  CUSTOS_NEW_PASSWORD="$BOB_PW" "$CUSTOS" user add dave --role intake --as alice
expect_grep 'wrong user name or password' "$T/err" "wrong password: said so"
expect_no_grep 'not the password' "$T/err" "wrong password: not echoed"
expect_status 4 "user add as an unknown user" env CUSTOS_PASSWORD='not the password' \
  CUSTOS_NEW_PASSWORD="$BOB_PW" "$CUSTOS" user add dave --role intake --as nobody
expect_grep 'wrong user name or password' "$T/err" "unknown user: same message"
expect_status 2 "user add: no password and no terminal" env -u CUSTOS_PASSWORD \
  CUSTOS_NEW_PASSWORD="$BOB_PW" setsid -w "$CUSTOS" user add dave --role intake --as alice
expect_grep 'CUSTOS_PASSWORD' "$T/err" "no acting password: the variable is named"
expect_status 2 "user add: no new password and no terminal" \
  setsid -w "$CUSTOS" user add dave --role intake --as alice
expect_status 5 "user add on a missing database" env CUSTOS_NEW_PASSWORD="$BOB_PW" \
  "$CUSTOS" user add dave --role intake --as alice --db "$T/none.db"

# --- user list -------------------------------------------------------------------
expect_status 0 "user list --json" "$CUSTOS" user list --as alice --json
[ "$(json_get "$T/out" '[u["name"] for u in d["users"]]')" = "['alice', 'bob', 'carol']" ] &&
  ok || fail "user list: the refused users are not there"
[ "$(json_get "$T/out" 'd["users"][1]["trained_until"]')" = 2031-06-30 ] && ok ||
  fail "user list: training date"
expect_no_grep 'argon2|pwhash' "$T/out" "user list: no password hashes"
expect_status 4 "user list by a non-admin" env CUSTOS_PASSWORD="$BOB_PW" \
  "$CUSTOS" user list --as bob

# --- lockout and unlock -------------------------------------------------------------
for i in 1 2 3 4 5; do
  expect_status 4 "bob's wrong password $i" env CUSTOS_PASSWORD='not the password' \
    "$CUSTOS" user list --as bob
done
expect_grep 'locked' "$T/err" "the fifth failure locks"
expect_status 4 "locked: the right password is refused" env CUSTOS_PASSWORD="$BOB_PW" \
  "$CUSTOS" user list --as bob
expect_grep 'locked' "$T/err" "locked: said so"
"$CUSTOS" user list --as alice --json >"$T/list.json"
[ "$(json_get "$T/list.json" 'd["users"][1]["locked"]')" = True ] && ok || fail "bob is locked"
expect_status 4 "unlock by a non-admin" env CUSTOS_PASSWORD="$BOB_PW" \
  "$CUSTOS" user unlock bob --as carol
expect_status 5 "unlock an unknown user" "$CUSTOS" user unlock nobody --as alice
expect_status 0 "unlock by the admin" "$CUSTOS" user unlock bob --as alice
expect_status 4 "unlocked bob is still not an admin" env CUSTOS_PASSWORD="$BOB_PW" \
  "$CUSTOS" user list --as bob
expect_grep 'needs the admin role' "$T/err" "after unlock: a role refusal, not a lock"

# --- training dates -------------------------------------------------------------------
expect_status 0 "set-training" "$CUSTOS" user set-training bob --until 2032-01-15 --as alice
expect_status 3 "set-training: impossible date" \
  "$CUSTOS" user set-training bob --until 2032-02-30 --as alice
expect_status 0 "set-training none" "$CUSTOS" user set-training bob --until none --as alice --json
"$CUSTOS" user list --as alice --json >"$T/list.json"
[ "$(json_get "$T/list.json" 'd["users"][1]["trained_until"]')" = None ] && ok ||
  fail "set-training none clears the date"

# --- SQL in names is data ----------------------------------------------------------------
expect_status 4 "an injection as --as" env CUSTOS_PASSWORD="x' OR '1'='1" \
  "$CUSTOS" user list --as "alice' --"
expect_status 0 "status after the attempts" "$CUSTOS" status --json
[ "$(json_get "$T/out" 'd["users"]')" = 3 ] && ok || fail "users table intact"

# --- passwords typed on a terminal ----------------------------------------------------------
# drive.py ANSWER... -- CMD...: runs CMD on a pseudo-terminal, typing each answer
# after a prompt, and prints what the terminal showed.
cat >"$T/drive.py" <<'EOF_PY'
import os, pty, select, signal, sys
i = sys.argv.index("--")
answers, cmd = sys.argv[1:i], sys.argv[i + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
def give_up(signum, frame):
    # A command still waiting for input after a minute: end it, fail.
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    sys.stdout.write(shown.decode(errors="replace") + "\n[drive.py: timed out]\n")
    sys.exit(124)
signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)
shown = b""
def read_some():
    global shown
    r, _, _ = select.select([fd], [], [], 20)
    if not r:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    shown += chunk
    return bool(chunk)
mark = 0
for a in answers:
    # Type only once a new prompt is showing: echo is switched off with
    # TCSAFLUSH, which discards anything typed ahead.
    while not shown[mark:].rstrip(b"\r\n").endswith(b": ") and read_some():
        pass
    mark = len(shown)
    os.write(fd, a.encode() + b"\n")
while read_some():
    pass
_, st = os.waitpid(pid, 0)
sys.stdout.write(shown.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(st))
EOF_PY
tty_pw='typed on a terminal 1'
expect_status 0 "init with prompted passwords" env -u CUSTOS_NEW_PASSWORD \
  python3 "$T/drive.py" "$tty_pw" "$tty_pw" -- "$CUSTOS" init --admin tina --db "$T/tty.db"
expect_grep 'Repeat' "$T/out" "init asks for the password twice"
expect_no_grep "$tty_pw" "$T/out" "the typed password is not echoed"
expect_status 3 "init with prompted passwords that differ" env -u CUSTOS_NEW_PASSWORD \
  python3 "$T/drive.py" "$tty_pw" "$tty_pw!" -- "$CUSTOS" init --admin tina --db "$T/tty2.db"
expect_grep 'differ' "$T/out" "differing passwords: said so"
[ ! -e "$T/tty2.db" ] && ok || fail "differing passwords: a database was created"
expect_status 0 "user add with prompted passwords" env -u CUSTOS_PASSWORD -u CUSTOS_NEW_PASSWORD \
  python3 "$T/drive.py" "$tty_pw" "$BOB_PW" "$BOB_PW" -- \
  "$CUSTOS" user add ulla --role manager --as tina --db "$T/tty.db"
expect_grep 'Password for tina' "$T/out" "user add asks for the acting user's password"
expect_no_grep "$BOB_PW|$tty_pw" "$T/out" "no typed password is echoed"
expect_status 4 "a wrong prompted password" env -u CUSTOS_PASSWORD \
  python3 "$T/drive.py" 'not the password' -- "$CUSTOS" user list --as tina --db "$T/tty.db"

# --- a database from a newer custos ---------------------------------------------------------
cp "$CUSTOS_DB" "$T/newer.db"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("UPDATE meta SET value=? WHERE key=?", ("999", "schema_version")); c.commit()' "$T/newer.db"
expect_status 3 "a newer database is refused" "$CUSTOS" status --db "$T/newer.db"
expect_grep 'newer than this custos' "$T/err" "newer database: said so"
expect_lines 1 "$T/err" "newer database: one line"

# --- not a database ------------------------------------------------------------------------
head -c 8192 /dev/urandom >"$T/random.db"
expect_status 1 "random bytes as a database" "$CUSTOS" status --db "$T/random.db"
expect_grep 'not a custos database' "$T/err" "random bytes: said so"

finish
