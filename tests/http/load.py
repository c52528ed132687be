#!/usr/bin/env python3
"""Bounded load test of `custos serve` from a second process on loopback.

CLIENTS threads, each with its own keep-alive connection and its own user,
share REQUESTS requests: each client signs in, then asks GET /api/me, the
queue (GET /api/cases) and two case views (GET /api/cases/{id}, of the cases
seeded before the run), signs in again (ending its previous session), and so
on.  Every answer must
be 200; any other status or a broken connection counts as an error and the
exit status is 1.  Prints p50/p99 latency per kind and overall, and beside
them the same server's figures for one client alone (its unloaded latency,
measured first in the same run), and the ratio.  The last line is one JSON
object with every figure.

Sign-ins check Argon2id hashes with libsodium's INTERACTIVE limits (64 MiB,
2 passes), as in production: the users are made with the fast test hashes
and the first sign-in of each replaces its hash.  --fast-kdf keeps the test
hashes (the server runs with CUSTOS_TEST_FAST_KDF=1), which measures the
server rather than the password hash.

  tests/http/load.py --custos build/custos [--requests 2000] [--clients 50]
"""
import argparse
import json
import os
import shutil
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, password_of  # noqa: E402

ME_PER_SIGNIN = 4
# What a client asks between two sign-ins, in turn: (kind, path or None for a case view).
VIEWS = [("me", "/api/me"), ("list", "/api/cases"), ("case", None), ("case", None)]
KINDS = (("signin", "sign-in"), ("me", "GET /me"), ("list", "GET /cases"),
         ("case", "GET /case"), ("all", "all"))
REQUESTS_DIR = os.path.join(harness.SOURCE, "tests", "data", "requests")


def percentile(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


class Worker(threading.Thread):
    """One client: its own connection and user; records (kind, seconds) per request."""

    def __init__(self, srv, user, count, barrier, cases):
        super().__init__(daemon=True)
        self.srv, self.user, self.count, self.barrier = srv, user, count, barrier
        self.cases = cases
        self.samples = []
        self.errors = []

    def run(self):
        conn = self.srv.connect(timeout=60)
        cookie = None
        body = json.dumps({"user": self.user, "password": password_of(self.user)})
        if self.barrier:
            self.barrier.wait()
        for i in range(self.count):
            step = i % (ME_PER_SIGNIN + 1)
            signin = step == 0
            kind, path = ("signin", "/api/session") if signin else VIEWS[step - 1]
            if path is None:
                path = "/api/cases/%d" % self.cases[i % len(self.cases)]
            headers = {"Cookie": cookie} if cookie else {}
            t0 = time.perf_counter()
            try:
                if signin:
                    headers["Content-Type"] = "application/json"
                    conn.request("POST", path, body=body, headers=headers)
                else:
                    conn.request("GET", path, headers=headers)
                r = conn.getresponse()
                data = r.read()
                dt = time.perf_counter() - t0
                if r.status != 200:
                    self.errors.append("%s: %d %s" % (kind, r.status, data[:120]))
                    continue
                if signin:
                    cookie = (r.getheader("Set-Cookie") or "").split(";")[0]
                self.samples.append((kind, dt))
            except Exception as e:  # a broken connection is an error, then reconnect
                self.errors.append("%s: %r" % (kind, e))
                conn.close()
                conn = self.srv.connect(timeout=60)
        conn.close()


def run_load(srv, users, requests, clients, cases):
    """Runs `requests` requests from `clients` clients; returns (samples, errors, seconds)."""
    per = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    barrier = threading.Barrier(clients) if clients > 1 else None
    workers = [Worker(srv, users[i % len(users)], per[i], barrier, cases) for i in range(clients)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    samples = [s for w in workers for s in w.samples]
    errors = [e for w in workers for e in w.errors]
    return samples, errors, elapsed


def summary(samples):
    out = {}
    for kind, _ in KINDS:
        v = [dt for k, dt in samples if kind == "all" or k == kind]
        out[kind] = {"n": len(v), "p50_ms": round(percentile(v, 50) * 1000, 2),
                     "p99_ms": round(percentile(v, 99) * 1000, 2)}
    return out


def seed_cases(srv, user):
    """Three stored requests to view (through the CLI, before the server starts)."""
    folder = os.path.join(srv.dir, "request")
    os.mkdir(folder)
    for name in ("gov02_administrative_warrant.json", "order.pdf", "probe.png"):
        shutil.copy(os.path.join(REQUESTS_DIR, name), folder)
    cases = []
    for _ in range(3):
        p = srv.cli("request", "submit", os.path.join(folder, "gov02_administrative_warrant.json"),
                    "--json", "--as", user, as_password=password_of(user))
        cases.append(json.loads(p.stdout)["case"])
    return cases


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--custos", default=os.environ.get("CUSTOS"), help="the custos binary")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--fast-kdf", action="store_true", help="test password hashes (see above)")
    ap.add_argument("--db-handles", type=int, default=4)
    args = ap.parse_args(argv)
    if not args.custos:
        ap.error("--custos or $CUSTOS must name the custos binary")
    harness.CUSTOS = args.custos
    if args.requests < 1 or args.clients < 1 or args.clients > 1000:
        ap.error("--requests and --clients must be positive (clients at most 1000)")

    serve_args = ["--login-per-ip", "0", "--login-per-user", "0",
                  "--max-per-ip", str(max(64, args.clients + 8)),
                  "--max-connections", str(max(256, args.clients + 16)),
                  "--db-handles", str(args.db_handles)]
    srv = Server(users=False, start=False)
    rc = 0
    try:
        users = ["load%03d" % i for i in range(args.clients)]
        for u in users:
            srv.add_user(u, "intake")
        cases = seed_cases(srv, users[0])
        if not args.fast_kdf:
            srv.env.pop("CUSTOS_TEST_FAST_KDF", None)
        srv.start(serve_args)
        # Warm-up: each user's first sign-in (replaces its test hash unless --fast-kdf).
        _, errors, _ = run_load(srv, users, len(users), len(users), cases)
        base_n = min(args.requests, 250)
        base, base_err, _ = run_load(srv, users[:1], base_n, 1, cases)
        samples, errors2, elapsed = run_load(srv, users, args.requests, args.clients, cases)
        errors += base_err + errors2
        s1, sn = summary(base), summary(samples)
        kdf = "test (CUSTOS_TEST_FAST_KDF)" if args.fast_kdf else "Argon2id INTERACTIVE"
        print("== load: %d requests from %d concurrent clients on loopback (%d sign-ins, %d GET "
              "/api/me, %d queue and %d case views; password hashes: %s; %d database handles)" %
              (len(samples) + len(errors2), args.clients, sn["signin"]["n"], sn["me"]["n"],
               sn["list"]["n"], sn["case"]["n"], kdf, args.db_handles))
        print("%-10s %12s %12s %14s %14s %8s" % ("request", "1 client p50", "1 client p99",
                                                 "%d clients p50" % args.clients,
                                                 "%d clients p99" % args.clients, "p50 x"))
        for kind, label in KINDS:
            a, b = s1[kind], sn[kind]
            ratio = b["p50_ms"] / a["p50_ms"] if a["p50_ms"] else float("nan")
            print("%-10s %9.2f ms %9.2f ms %11.2f ms %11.2f ms %8.1f" %
                  (label, a["p50_ms"], a["p99_ms"], b["p50_ms"], b["p99_ms"], ratio))
        print("throughput %.0f requests/s over %.2f s; errors: %d" %
              (len(samples) / elapsed if elapsed else 0, elapsed, len(errors)))
        for e in errors[:10]:
            print("error: " + e, file=sys.stderr)
        print(json.dumps({"requests": args.requests, "clients": args.clients, "kdf": kdf,
                          "errors": len(errors), "seconds": round(elapsed, 3),
                          "one_client": s1, "concurrent": sn}))
        rc = 1 if errors else 0
        stop_rc = srv.stop()
        if stop_rc != 0:
            print("server exit status %r: %s" % (stop_rc, srv.stderr()[-2000:]), file=sys.stderr)
            rc = 1
    finally:
        srv.stop()
        shutil.rmtree(srv.dir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
