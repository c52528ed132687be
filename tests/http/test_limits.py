#!/usr/bin/env python3
"""Limits: a 100 MB body answered 413 from its headers while the server stays
up (many at once, too); chunked bodies past the limit; bad Content-Length;
sign-in rate limits per address and per user name (429 with Retry-After);
the bound on connections per address; idle connections closed after the
timeout."""
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN, Server, check, eq, finish, password_of

HUNDRED_MB = 100 * 1024 * 1024


def status_of(out):
    return int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/1.") else None


def big_upload(srv, path, extra_headers=b"", send=64 * 1024):
    """Announces a 100 MB body, sends a little of it, and returns (reply bytes,
    seconds until the reply, whether the server closed the connection)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    t0 = time.time()
    s.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + extra_headers + b"Content-Length: %d\r\n\r\n" % HUNDRED_MB)
    try:
        s.sendall(b"{" + b" " * (send - 1))
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = b""
    closed = False
    try:
        while True:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            out += d
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        pass
    elapsed = time.time() - t0
    s.close()
    return out, elapsed, closed


srv = Server(["--login-per-ip", "5", "--login-per-user", "3", "--max-per-ip", "8",
              "--timeout", "2"], users=False)
try:
    # ---- 100 MB bodies ------------------------------------------------------------------
    out, secs, closed = big_upload(srv, b"/api/session")
    eq(status_of(out), 413, "100 MB sign-in body")
    check(b'"error":"too_large"' in out, "100 MB body: JSON error too_large: %r" % out[-200:])
    check(secs < 10, "100 MB body answered from the headers (%.1f s)" % secs)
    check(closed, "the server closes the connection instead of reading 100 MB")
    eq(srv.request("GET", "/healthz").status, 200, "healthz after the 100 MB body")

    # Many at once, each keeping its connection open while it sends.
    results = []

    def upload():
        results.append(big_upload(srv, b"/api/session", send=256 * 1024))

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eq([status_of(o) for o, _, _ in results], [413] * 6, "six 100 MB bodies at once")
    eq(srv.request("GET", "/healthz").status, 200, "healthz after six 100 MB bodies")
    check(srv.alive(), "server alive after the 100 MB bodies")

    # With a session: the session, CSRF and role checks come first, then the size.
    admin = srv.client(ADMIN)
    cookie = admin.cookie.encode()
    out, secs, closed = big_upload(srv, b"/api/users", b"Cookie: " + cookie + b"\r\n"
                                   b"X-CSRF-Token: " + admin.csrf.encode() + b"\r\n")
    eq(status_of(out), 413, "100 MB body to POST /api/users as admin")
    out, _, _ = big_upload(srv, b"/api/users")
    eq(status_of(out), 401, "100 MB body without a session: 401 before the size")

    # ---- chunked bodies ---------------------------------------------------------------------
    def chunked(total, chunk=4096):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
        s.sendall(b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        sent = 0
        try:
            while sent < total:
                s.sendall(b"%x\r\n" % chunk + b" " * chunk + b"\r\n")
                sent += chunk
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        return out

    eq(status_of(chunked(64 * 1024)), 413, "chunked body of 64 KiB to a 4 KiB route")
    out = chunked(20 * 1024 * 1024)
    check(status_of(out) in (413, None), "chunked 20 MB: 413 or closed, got %r" % out[:60])
    eq(srv.request("GET", "/healthz").status, 200, "healthz after chunked bodies")

    # ---- Content-Length that is not a length --------------------------------------------------
    for cl in (b"abc", b"-1", b"1e9", b"99999999999999999999999"):
        out = srv.raw(b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + cl + b"\r\nConnection: close\r\n\r\n{}")
        check(status_of(out) in (400, 413), "Content-Length %r: %r" % (cl, out[:60]))
    eq(srv.request("GET", "/healthz").status, 200, "healthz after bad Content-Length")

    # ---- sign-in rate limits --------------------------------------------------------------------
    # Per user name: 3 a minute.  The admin signed in once above.
    codes = [srv.request("POST", "/api/session", {"user": "victim", "password": "guess %d" % i}).status
             for i in range(4)]
    eq(codes[:3], [401, 401, 401], "three guesses for one user are answered")
    eq(codes[3], 429, "the fourth guess for that user is rate-limited")
    r = srv.request("POST", "/api/session", {"user": "victim", "password": "guess"})
    eq(r.json and r.json.get("error"), "rate_limited", "429: error code")
    check(r.header("retry-after") is not None and int(r.header("retry-after")) >= 1,
          "429: Retry-After %r" % r.header("retry-after"))
    # Per address: 5 a minute, all used up now (1 admin + 4 + 1 above).
    r = srv.request("POST", "/api/session", {"user": ADMIN, "password": password_of(ADMIN)})
    eq(r.status, 429, "this address is rate-limited, even for the right password")
    check("address" in (r.json or {}).get("message", ""), "429 says it is the address: %r" % r)
    eq(srv.request("GET", "/healthz").status, 200, "other requests are not rate-limited")
    eq(admin.call("GET", "/api/me").status, 200, "signed-in sessions are not rate-limited")

    # ---- connections per address, idle timeout -------------------------------------------------
    time.sleep(1.0)  # connections of the steps above finish closing
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(9)]
    time.sleep(0.3)

    # All nine ask at once (each idle connection would be closed after 2 s).
    for s in held:
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        except (ConnectionResetError, BrokenPipeError):
            pass

    def answered(s):
        """Whether the connection answered; reads the whole answer, leaving it open."""
        try:
            ok = s.recv(100).startswith(b"HTTP/1.1 200")
        except (ConnectionResetError, socket.timeout):
            return False
        s.settimeout(0.1)
        try:
            while s.recv(65536):
                pass
        except socket.timeout:
            pass
        return ok

    served = [answered(s) for s in held]
    eq(served.count(True), 8, "of nine connections from one address, eight are served (--max-per-ip 8)")
    held = [s for s, ok in zip(held, served) if ok]
    # The served connections now send nothing more: --timeout 2 closes them.
    time.sleep(3.5)
    closed = 0
    for s in held:
        s.settimeout(5)
        try:
            closed += s.recv(100) == b""
        except ConnectionResetError:
            closed += 1
        s.close()
    eq(closed, 8, "idle connections closed after the timeout")
    eq(srv.request("GET", "/healthz").status, 200, "new connections accepted again")
finally:
    srv.close()
finish()
