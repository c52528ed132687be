#!/usr/bin/env python3
"""Sessions and the server's life: idle and absolute expiry (2 s and 4 s
here), a session id that is not one, graceful stop on SIGTERM and SIGINT
(also with a connection open mid-request), start-up failures with their exit
statuses, HTTPS with --tls-cert (Secure cookie, HSTS) and
--behind-https-proxy (Secure cookie, client address from X-Forwarded-For)."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN, CUSTOS, Server, check, eq, finish, password_of

# ---- expiry -----------------------------------------------------------------------------
srv = Server(["--session-idle", "2", "--session-max", "4"], users=False)
try:
    c = srv.client(ADMIN)
    eq(c.call("GET", "/api/me").status, 200, "fresh session")
    time.sleep(2.6)
    r = c.call("GET", "/api/me")
    eq(r.status, 401, "session unused for longer than --session-idle 2")
    eq(r.json and r.json.get("error"), "unauthorized", "expired session: code")

    c = srv.client(ADMIN)
    t0 = time.time()
    statuses = []
    while time.time() - t0 < 5.5:  # keeps it busy: only the absolute limit can end it
        statuses.append((round(time.time() - t0, 1), c.call("GET", "/api/me").status))
        time.sleep(0.5)
    early = [s for t, s in statuses if t < 3.5]
    late = [s for t, s in statuses if t > 4.4]
    check(early and all(s == 200 for s in early), "busy session alive before 4 s: %r" % statuses)
    check(late and all(s == 401 for s in late), "session ended after --session-max 4: %r" % statuses)

    for bad in ("", "x", "A" * 42, "A" * 44, "A" * 43, "../../etc", "%00" * 15):
        r = srv.request("GET", "/api/me", headers={"Cookie": "custos_session=" + bad})
        eq(r.status, 401, "session id %r" % bad)
finally:
    srv.close()

# ---- graceful stop -------------------------------------------------------------------------
for sig in (signal.SIGTERM, signal.SIGINT):
    srv = Server(users=False)
    c = srv.client(ADMIN)
    # A connection in the middle of a request (headers sent, body not).
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100\r\n\r\n{")
    time.sleep(0.2)
    t0 = time.time()
    rc = srv.stop(sig, timeout=30)
    eq(rc, 0, "exit status after %s" % signal.Signals(sig).name)
    check(time.time() - t0 < 20, "stopped promptly with a request open")
    check("stopped" in srv.stderr(), "says it stopped: %r" % srv.stderr()[-300:])
    s.close()
    srv.close()

# ---- start-up failures ---------------------------------------------------------------------------
srv = Server(users=False, start=False)
try:
    def serve(*args, env=None):
        e = dict(srv.env)
        e.update(env or {})
        p = subprocess.run([CUSTOS, "serve", *args], env=e, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        return p

    p = serve("--db", os.path.join(srv.dir, "none.db"), "--listen", "127.0.0.1:0")
    eq(p.returncode, 5, "serve without a database")
    check("custos init" in p.stderr, "the hint names custos init: %r" % p.stderr)
    for bad in ("127.0.0.1", "localhost:8080", "127.0.0.1:99999", "[::1:80", "1.2.3.4:x", ":80"):
        p = serve("--listen", bad)
        eq(p.returncode, 2, "--listen %s" % bad)
    for opt, val in (("--session-idle", "0"), ("--db-handles", "-1"), ("--max-connections", "x"),
                     ("--timeout", "99999")):
        p = serve(opt, val, "--listen", "127.0.0.1:0")
        eq(p.returncode, 2, "%s %s" % (opt, val))
    p = serve("--listen", "127.0.0.1:0", "--web", os.path.join(srv.dir, "no-web"))
    eq(p.returncode, 5, "serve without the web folder")
    check("signin.html" in p.stderr or "index.html" in p.stderr, "names the missing page: %r" % p.stderr)
    p = serve("--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent")
    eq(p.returncode, 2, "--tls-cert without --tls-key")
    # Port in use.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    p = serve("--listen", "127.0.0.1:%d" % blocker.getsockname()[1])
    eq(p.returncode, 1, "serve on a port in use")
    blocker.close()
    # The policy: a missing or malformed file, and one that is not the database's.
    p = serve("--listen", "127.0.0.1:0", "--policy", os.path.join(srv.dir, "none.policy"))
    eq(p.returncode, 5, "serve with a missing policy file")
    bad = os.path.join(srv.dir, "bad.policy")
    with open(bad, "w") as f:
        f.write("[records]\nretention_days = 'ninety'\n")
    p = serve("--listen", "127.0.0.1:0", "--policy", bad)
    eq(p.returncode, 2, "serve with a malformed policy file")
    check("bad.policy:2" in p.stderr, "the policy error names file and line: %r" % p.stderr)
    site = os.path.join(srv.dir, "site.policy")
    with open(site, "w") as f:
        f.write("[records]\nretention_days = 30\n")
    site_db = os.path.join(srv.dir, "site.db")
    srv.cli("init", "--admin", "sitead", "--policy", site, "--db", site_db,
            new_password=password_of("sitead"))
    p = serve("--listen", "127.0.0.1:0", "--db", site_db)
    eq(p.returncode, 3, "serve a database set up with a policy file, without it")
    check("--policy" in p.stderr and "set up with" in p.stderr,
          "the refusal says which policy to name: %r" % p.stderr)
    proc = subprocess.Popen([CUSTOS, "serve", "--listen", "127.0.0.1:0", "--db", site_db,
                             "--policy", site], env=srv.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    proc.terminate()
    proc.communicate(timeout=60)
    check(line.startswith("custos: serving http"), "serves it with its own policy: %r" % line)
    eq(proc.returncode, 0, "and stops cleanly")
    p = serve("--help")
    eq(p.returncode, 0, "serve --help")
    check("--listen" in p.stdout and "--session-idle" in p.stdout, "serve --help lists options")
finally:
    srv.close()

# ---- HTTPS -------------------------------------------------------------------------------------
if shutil.which("openssl"):
    srv = Server(users=False, start=False)
    try:
        cert, key = os.path.join(srv.dir, "cert.pem"), os.path.join(srv.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"], check=True,
                       capture_output=True, timeout=60)
        srv.start(["--tls-cert", cert, "--tls-key", key])
        eq(srv.scheme, "https", "announces https")
        import http.client
        import json
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        conn = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=30)
        conn.request("POST", "/api/session",
                     body=json.dumps({"user": ADMIN, "password": password_of(ADMIN)}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        eq(r.status, 200, "sign-in over HTTPS")
        check("; Secure" in (r.getheader("Set-Cookie") or ""), "Secure cookie over HTTPS")
        check((r.getheader("Strict-Transport-Security") or "").startswith("max-age="), "HSTS over HTTPS")
        conn.close()
    finally:
        srv.close()
else:
    print("openssl not found: HTTPS not tested")

# ---- behind a trusted HTTPS proxy -----------------------------------------------------------------
srv = Server(["--behind-https-proxy", "--login-per-ip", "2"], users=False)
try:
    r = srv.request("POST", "/api/session", {"user": ADMIN, "password": password_of(ADMIN)},
                    headers={"X-Forwarded-For": "203.0.113.7"})
    eq(r.status, 200, "sign-in through the proxy")
    check("; Secure" in (r.header("set-cookie") or ""), "Secure cookie behind the proxy")
    srv.request("POST", "/api/session", {"user": "x", "password": "y"}, headers={"X-Forwarded-For": "203.0.113.7"})
    r = srv.request("POST", "/api/session", {"user": "x", "password": "y"}, headers={"X-Forwarded-For": "203.0.113.7"})
    eq(r.status, 429, "third attempt from one forwarded address")
    r = srv.request("POST", "/api/session", {"user": "x", "password": "y"},
                    headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.9"})
    eq(r.status, 401, "the proxy's last X-Forwarded-For entry is the client")
finally:
    srv.close()
finish()
