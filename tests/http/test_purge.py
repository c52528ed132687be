#!/usr/bin/env python3
"""The retention purge inside the server (GOV-21, docs/http.md).

`custos serve --purge-every 1 --policy P` (P: the built-in policy with
retention_days = 1) runs custos_case_purge_scheduled at start and every
second.  A rejected request is stored with its probe; once its closing date
lies more than a day back (the test moves the date in the database, standing
in for the days passing) the server itself erases the probe, marks the case
purged and logs it, with an audit entry whose actor is "system"; the log
still verifies; the same schedule signs checkpoints of the log.  A case closed today is left alone, and so is every case of
a server started with --purge-every 0.  The administrator's on-demand purge
answers {"purged": n}.
"""
import json
import os
import shutil
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SOURCE, Server, USERS, check, eq, finish, password_of  # noqa: E402

REQUESTS = os.path.join(SOURCE, "tests", "data", "requests")


def write_policy(folder):
    """The built-in policy with a one-day retention."""
    text = None
    for line in open(os.path.join(SOURCE, "policy", "default.policy"), encoding="utf-8"):
        if line.strip().startswith("retention_days"):
            line = "retention_days = 1\n"
        text = (text or "") + line
    path = os.path.join(folder, "short-retention.policy")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def submit_rejected(srv):
    """Submits the I-200 request through the CLI (rejected at intake, probe stored)."""
    folder = os.path.join(srv.dir, "request")
    os.mkdir(folder)
    for name in ("gov02_administrative_warrant.json", "order.pdf", "probe.png"):
        shutil.copy(os.path.join(REQUESTS, name), folder)
    p = srv.cli("request", "submit", os.path.join(folder, "gov02_administrative_warrant.json"),
                "--json", "--as", USERS["intake"], as_password=password_of(USERS["intake"]))
    return json.loads(p.stdout)["case"]


def age_closing(srv, case, days):
    """Moves the case's closing date `days` back (the passing of time)."""
    con = sqlite3.connect(srv.db)
    with con:
        con.execute("UPDATE cases SET closed = date('now', ?) WHERE id = ?",
                    ("-%d days" % days, case))
    con.close()


def probe_stored(srv, case):
    con = sqlite3.connect(srv.db)
    row = con.execute("SELECT probe IS NOT NULL FROM cases WHERE id = ?", (case,)).fetchone()
    con.close()
    return bool(row[0])


def system_purge_entries(srv):
    con = sqlite3.connect(srv.db)
    rows = [json.loads(bytes(r[0]).decode()) for r in con.execute("SELECT entry FROM audit_entry")]
    con.close()
    return [e for e in rows if e.get("action") == "case.purge" and e.get("actor") == "system"]


def audit_entries(srv):
    con = sqlite3.connect(srv.db)
    n = con.execute("SELECT count(*) FROM audit_entry").fetchone()[0]
    con.close()
    return n


def wait_for(cond, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def main():
    # A server that purges every second under a one-day retention.
    srv = Server(start=False)
    policy = write_policy(srv.dir)
    case = submit_rejected(srv)
    fresh = submit_rejected_again(srv)
    check(probe_stored(srv, case), "the rejected case keeps its probe until the purge")
    age_closing(srv, case, 3)
    srv.start(["--policy", policy, "--purge-every", "1"])
    check(wait_for(lambda: not probe_stored(srv, case), 30),
          "the scheduled purge erased the probe of a case closed 3 days ago")
    aud = srv.client(USERS["auditor"])
    r = aud.call("GET", "/api/cases/%d" % case)
    eq(r.status, 200, "show the purged case")
    check(isinstance(r.json.get("purged"), str), "the case is marked purged: %r" % r.json)
    check(probe_stored(srv, fresh), "a case closed today keeps its probe")
    r = aud.call("GET", "/api/cases/%d" % fresh)
    check("purged" not in r.json, "a case closed today is not marked purged")
    check(wait_for(lambda: "retention purge: 1 cases purged" in srv.stderr(), 10),
          "the server logs the purge (stderr: %s)" % srv.stderr()[-500:])
    eq(len(system_purge_entries(srv)), 1, "one case.purge audit entry by the system")
    # The same schedule signs checkpoints: the latest soon covers the whole log.
    n = audit_entries(srv)
    check(wait_for(lambda: aud.call("GET", "/api/audit").json.get("size", 0) >= n, 10),
          "the scheduled checkpoint covers the %d entries of the log" % n)
    check("signed a checkpoint of the audit log" in srv.stderr(), "the server logs the signing")
    r = aud.call("POST", "/api/audit/verify")
    eq((r.status, r.json.get("ok")), (200, True), "the log verifies after the purge: %r" % r.json)
    # The administrator's purge now finds nothing left.
    adm = srv.client(USERS["admin"])
    r = adm.call("POST", "/api/retention/purge")
    eq((r.status, r.json), (200, {"purged": 0}), "on-demand purge after the scheduled one")
    # An examiner may not purge.
    r = srv.client(USERS["examiner"]).call("POST", "/api/retention/purge")
    eq(r.status, 403, "an examiner's purge")
    srv.close()

    # --purge-every 0: nothing runs on a schedule; the administrator's purge does.
    srv = Server(start=False)
    policy = write_policy(srv.dir)
    case = submit_rejected(srv)
    age_closing(srv, case, 3)
    srv.start(["--policy", policy, "--purge-every", "0"])
    time.sleep(2)
    check(probe_stored(srv, case), "--purge-every 0 purges nothing on its own")
    r = srv.client(USERS["admin"]).call("POST", "/api/retention/purge")
    eq((r.status, r.json), (200, {"purged": 1}), "on-demand purge with --purge-every 0")
    check(not probe_stored(srv, case), "the on-demand purge erased the probe")
    eq(len(system_purge_entries(srv)), 0, "no system entry without the schedule")
    r = srv.client(USERS["auditor"]).call("GET", "/api/audit")
    check(r.json["size"] < audit_entries(srv), "no checkpoint is signed without the schedule")
    srv.close()

    # Bad values of the option are refused before the server starts.
    for bad in ("-1", "x", "99999999999"):
        s = Server(start=False, users=False)
        p = s.cli("serve", "--listen", "127.0.0.1:0", "--purge-every", bad, check_status=False)
        eq(p.returncode, 2, "--purge-every %s: exit status" % bad)
        check("--purge-every" in p.stderr, "--purge-every %s: the error names the option" % bad)
        s.close()
    finish()


def submit_rejected_again(srv):
    """A second rejected case, left closed today."""
    folder = os.path.join(srv.dir, "request")
    p = srv.cli("request", "submit", os.path.join(folder, "gov02_administrative_warrant.json"),
                "--json", "--as", USERS["intake"], as_password=password_of(USERS["intake"]))
    return json.loads(p.stdout)["case"]


if __name__ == "__main__":
    main()
