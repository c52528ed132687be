#!/usr/bin/env python3
"""The JSON API against every role: each endpoint permitted, 401 without a
session and 403 for a wrong role; CSRF missing or wrong; sign-in answers;
logout; a locked account losing access; malformed, mistyped and oversized
bodies; unknown routes and methods; the security headers; /healthz."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ADMIN, ROLES, USERS, Server, check, check_security_headers, eq, finish,
                     password_of)

# Sign-in limits high enough for the many sign-ins below (test_limits.py tests them).
srv = Server(["--login-per-ip", "1000", "--login-per-user", "1000"])
try:
    # ---- /healthz ------------------------------------------------------------------------
    r = srv.request("GET", "/healthz")
    eq(r.status, 200, "healthz status")
    check(r.json and r.json.get("ok") is True, "healthz says ok: %r" % r)
    eq(r.header("cache-control"), "no-store", "healthz Cache-Control")
    check_security_headers(r, "healthz")
    eq(srv.request("HEAD", "/healthz").status, 200, "HEAD /healthz")

    # ---- signing in ------------------------------------------------------------------------
    clients = {}
    for role in ROLES:
        c = srv.client()
        r = c.login(USERS[role])
        eq(r.status, 200, "sign-in as %s" % role)
        eq(r.json.get("role"), role, "sign-in as %s: role" % role)
        eq(r.json.get("user"), USERS[role], "sign-in as %s: user" % role)
        check(len(r.json.get("csrf", "")) == 43, "sign-in as %s: a 256-bit CSRF token" % role)
        sc = r.header("set-cookie") or ""
        for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
            check(flag in sc, "session cookie has %s: %r" % (flag, sc))
        check("Secure" not in sc, "no Secure flag over plain HTTP: %r" % sc)
        check(len(sc.split(";")[0].split("=", 1)[1]) == 43, "cookie carries 256 bits: %r" % sc)
        eq(r.header("cache-control"), "no-store", "sign-in Cache-Control")
        clients[role] = c

    wrong = srv.request("POST", "/api/session", {"user": ADMIN, "password": "not the password"})
    unknown = srv.request("POST", "/api/session", {"user": "nobody", "password": "not the password"})
    eq(wrong.status, 401, "wrong password")
    eq(unknown.status, 401, "unknown user")
    eq(wrong.json, unknown.json, "same answer for a wrong password and an unknown user")
    eq(wrong.json.get("error"), "unauthorized", "wrong password: error code")
    check(wrong.header("set-cookie") is None, "no cookie after a failed sign-in")

    # ---- every endpoint against every role ------------------------------------------------
    # (method, path, body, roles permitted, expected status when permitted)
    added = iter(range(1000))

    def new_user_body():
        n = next(added)
        return {"name": "new%d" % n, "role": "examiner", "password": password_of("new%d" % n),
                "trained_until": "2030-01-31"}

    endpoints = [
        ("GET", "/api/me", None, ROLES, 200),
        ("GET", "/api/users", None, ["admin"], 200),
        ("POST", "/api/users", new_user_body, ["admin"], 201),
        ("POST", "/api/users/emil/unlock", None, ["admin"], 200),
        ("PUT", "/api/users/emil/training", {"trained_until": "2031-06-30"}, ["admin"], 200),
    ]
    for method, path, body, permitted, ok_status in endpoints:
        b = body() if callable(body) else body
        r = srv.request(method, path, b, headers={"X-CSRF-Token": "x" * 43})
        eq(r.status, 401, "%s %s without a session" % (method, path))
        eq(r.json and r.json.get("error"), "unauthorized", "%s %s without a session: code" % (method, path))
        r = srv.request(method, path, b, headers={"Cookie": "custos_session=" + "A" * 43})
        eq(r.status, 401, "%s %s with an unknown session id" % (method, path))
        for role in ROLES:
            b = body() if callable(body) else body
            r = clients[role].call(method, path, b)
            if role in permitted:
                eq(r.status, ok_status, "%s %s as %s (%r)" % (method, path, role, r))
            else:
                eq(r.status, 403, "%s %s as %s" % (method, path, role))
                eq(r.json and r.json.get("error"), "forbidden", "%s %s as %s: code" % (method, path, role))
            check_security_headers(r, "%s %s as %s" % (method, path, role))
            eq(r.header("cache-control"), "no-store", "%s %s: Cache-Control" % (method, path))

    me = clients["examiner"].call("GET", "/api/me").json
    eq((me["user"], me["role"]), ("emil", "examiner"), "/api/me names the user and role")
    eq(me["csrf"], clients["examiner"].csrf, "/api/me gives the session's CSRF token")

    users = clients["admin"].call("GET", "/api/users").json["users"]
    names = [u["name"] for u in users]
    check(all(n in names for n in USERS.values()), "user list has everyone: %r" % names)
    emil = [u for u in users if u["name"] == "emil"][0]
    eq(emil["trained_until"], "2031-06-30", "training date set through the API")
    eq(emil["role"], "examiner", "user list: role")
    added_users = [u for u in users if u["name"].startswith("new")]
    check(len(added_users) == 1 and added_users[0]["trained_until"] == "2030-01-31",
          "one user added through the API (by the administrator): %r" % added_users)
    if added_users:
        eq(srv.client().login(added_users[0]["name"]).status, 200, "the added user signs in")

    # ---- CSRF ----------------------------------------------------------------------------
    admin = clients["admin"]
    other = clients["intake"]
    state_changing = [
        ("POST", "/api/users", new_user_body),
        ("POST", "/api/users/emil/unlock", None),
        ("PUT", "/api/users/emil/training", {"trained_until": None}),
        ("DELETE", "/api/session", None),
    ]
    for method, path, body in state_changing:
        for label, headers in (("missing", {}), ("wrong", {"X-CSRF-Token": "y" * 43}),
                               ("short", {"X-CSRF-Token": admin.csrf[:-1]}),
                               ("another session's", {"X-CSRF-Token": other.csrf})):
            b = body() if callable(body) else body
            r = admin.call(method, path, b, csrf=False, headers=headers)
            eq(r.status, 403, "%s %s with a %s CSRF token" % (method, path, label))
            eq(r.json and r.json.get("error"), "csrf", "%s %s with a %s CSRF token: code" % (method, path, label))
    eq(admin.call("GET", "/api/me").status, 200, "session still valid after CSRF refusals")

    # ---- logout ---------------------------------------------------------------------------
    for role in ROLES:
        c = clients[role]
        r = c.call("DELETE", "/api/session")
        eq(r.status, 200, "sign-out as %s" % role)
        check("Max-Age=0" in (r.header("set-cookie") or ""), "sign-out clears the cookie")
        eq(c.call("GET", "/api/me").status, 401, "/api/me after sign-out as %s" % role)
        eq(c.call("DELETE", "/api/session").status, 401, "second sign-out as %s" % role)

    # Signing in again ends the session the browser had.
    c = srv.client(ADMIN)
    old_cookie = c.cookie
    c.login(ADMIN)
    check(c.cookie != old_cookie, "a new sign-in gets a new session id")
    r = srv.request("GET", "/api/me", headers={"Cookie": old_cookie})
    eq(r.status, 401, "the previous session ended on signing in again")

    # ---- bodies -----------------------------------------------------------------------------
    admin = srv.client(ADMIN)
    bad_bodies = [
        ("not JSON", b"{"),
        ("trailing garbage", b'{"name": "x"} x'),
        ("an array", b"[]"),
        ("a string", b'"x"'),
        ("nothing", b""),
        ("a number for the name", {"name": 1, "role": "intake", "password": "long enough password"}),
        ("null for the role", {"name": "zed", "role": None, "password": "long enough password"}),
        ("an object for the password", {"name": "zed", "role": "intake", "password": {}}),
        ("a number for trained_until", {"name": "zed", "role": "intake", "password": "long enough password", "trained_until": 20300101}),
        ("a missing password", {"name": "zed", "role": "intake"}),
        ("an unknown field", {"name": "zed", "role": "intake", "password": "long enough password", "ssn": "1"}),
        ("duplicate keys", b'{"name": "zed", "name": "zod", "role": "intake", "password": "long enough password"}'),
        ("deep nesting", b'{"name": ' + b"[" * 40 + b"]" * 40 + b"}"),
        ("a NUL escape", b'{"name": "z\\u0000d", "role": "intake", "password": "long enough password"}'),
        ("invalid UTF-8", b'{"name": "z\xff", "role": "intake", "password": "long enough password"}'),
    ]
    for label, body in bad_bodies:
        h = {"Content-Type": "application/json"} if isinstance(body, bytes) else None
        r = admin.call("POST", "/api/users", body, headers=h)
        eq(r.status, 400, "POST /api/users with %s" % label)
        eq(r.json and r.json.get("error"), "malformed", "POST /api/users with %s: code" % label)
        check(r.json and isinstance(r.json.get("message"), str), "%s: message" % label)
    r = admin.call("POST", "/api/users", b'{"name": "zed"}', headers={"Content-Type": "text/plain"})
    eq(r.status, 415, "POST /api/users as text/plain")
    r = admin.call("POST", "/api/users", {"name": "zed", "role": "intake",
                                           "password": "x" * (70 * 1024)})
    eq(r.status, 413, "POST /api/users with a 70 KiB body")
    eq(r.json and r.json.get("error"), "too_large", "70 KiB body: code")
    r = srv.request("POST", "/api/session", {"user": ADMIN, "password": "p" * 5000})
    eq(r.status, 413, "sign-in with a 5 KB body (limit 4 KiB)")
    for label, body in (("not JSON", b"user=alice"), ("a number for user", {"user": 7, "password": "x"}),
                        ("no password", {"user": ADMIN}), ("an extra field", {"user": ADMIN, "password": "x", "role": "admin"})):
        h = {"Content-Type": "application/json"} if isinstance(body, bytes) else None
        r = srv.request("POST", "/api/session", body, headers=h)
        eq(r.status, 400, "sign-in with %s" % label)
    r = srv.request("POST", "/api/session", b'{"user":"alice","password":"x"}',
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    eq(r.status, 415, "sign-in posted as a form (login CSRF)")

    refused = [
        ("an unknown role", {"name": "zed", "role": "overlord", "password": "long enough password"}, 400, "invalid"),
        ("a bad date", {"name": "zed", "role": "intake", "password": "long enough password", "trained_until": "2030-02-30"}, 400, "invalid"),
        ("a short password", {"name": "zed", "role": "intake", "password": "short"}, 400, "invalid"),
        ("a bad name", {"name": "Zed;drop", "role": "intake", "password": "long enough password"}, 400, "invalid"),
        ("a name taken", {"name": "emil", "role": "intake", "password": "long enough password"}, 409, "conflict"),
    ]
    for label, body, status, code in refused:
        r = admin.call("POST", "/api/users", body)
        eq(r.status, status, "POST /api/users with %s" % label)
        eq(r.json and r.json.get("error"), code, "POST /api/users with %s: code" % label)
    r = admin.call("PUT", "/api/users/emil/training", {"trained_until": "yesterday"})
    eq(r.status, 400, "training date not a date")
    r = admin.call("PUT", "/api/users/emil/training", {})
    eq(r.status, 400, "training without trained_until")
    r = admin.call("PUT", "/api/users/emil/training", {"trained_until": None})
    eq((r.status, r.json.get("trained_until", "absent")), (200, None), "training cleared with null")
    eq(admin.call("POST", "/api/users/nobody/unlock").status, 404, "unlock an unknown user")
    eq(admin.call("PUT", "/api/users/nobody/training", {"trained_until": None}).status, 404,
       "training of an unknown user")
    eq(admin.call("POST", "/api/users/emil/unlock", b"x", headers={"Content-Type": "application/json"}).status,
       413, "unlock with a body (it takes none)")
    eq(admin.call("GET", "/api/me", b"x").status, 413, "GET with a body")

    # ---- a locked account loses access at once ------------------------------------------------
    r = admin.call("POST", "/api/users", {"name": "bob", "role": "admin", "password": password_of("bob")})
    eq(r.status, 201, "second administrator added")
    bob = srv.client("bob")
    eq(bob.call("GET", "/api/users").status, 200, "bob lists users")
    for i in range(5):
        srv.request("POST", "/api/session", {"user": "bob", "password": "wrong password %d" % i})
    r = bob.call("GET", "/api/users")
    eq(r.status, 401, "a locked administrator's session is refused by the library")
    eq(bob.call("GET", "/api/me").status, 401, "and the session is ended")
    r = srv.request("POST", "/api/session", {"user": "bob", "password": password_of("bob")})
    eq((r.status, r.json), (401, wrong.json), "a locked account's sign-in: the same 401 answer")
    eq(admin.call("POST", "/api/users/bob/unlock").status, 200, "unlock bob")
    eq(srv.client().login("bob").status, 200, "bob signs in after the unlock")

    # ---- unknown routes and methods -------------------------------------------------------------
    for path in ("/nope", "/api/nope", "/api/users/emil/nope", "/api/me/", "/api/users/", "/API/me",
                 "/api/users/emil/unlock/x", "/api/users/%65mil/unlock"):
        r = admin.call("GET", path)
        eq(r.status, 404, "GET %s" % path)
        eq(r.json and r.json.get("error"), "not_found", "GET %s: JSON error" % path)
        check_security_headers(r, "404 for %s" % path)
    for method, path, allow in (("PATCH", "/api/me", "GET, HEAD"), ("POST", "/healthz", "GET, HEAD"),
                                ("GET", "/api/users/emil/unlock", "POST"),
                                ("DELETE", "/api/users", "GET, HEAD, POST"),
                                ("PUT", "/signin", "GET, HEAD"), ("OPTIONS", "/api/session", None)):
        r = admin.call(method, path)
        eq(r.status, 405, "%s %s" % (method, path))
        eq(r.json and r.json.get("error"), "method_not_allowed", "%s %s: code" % (method, path))
        if allow:
            eq(r.header("allow"), allow, "%s %s: Allow" % (method, path))

    # ---- /healthz when the database goes away ------------------------------------------------
    os.rename(srv.db, srv.db + ".away")
    r = srv.request("GET", "/healthz")
    eq(r.status, 503, "healthz without the database")
    check(r.json and r.json.get("ok") is False and r.json.get("database") == "unavailable",
          "healthz names the database: %r" % r)
    check(srv.db not in r.body.decode(), "healthz does not publish the database path")
    os.rename(srv.db + ".away", srv.db)
    eq(srv.request("GET", "/healthz").status, 200, "healthz with the database back")
finally:
    srv.close()

# ---- /healthz without models -------------------------------------------------------------------
srv = Server(["--models", "/nonexistent/models"], users=False)
try:
    r = srv.request("GET", "/healthz")
    eq(r.status, 503, "healthz without models")
    check(r.json and r.json.get("models") == "unavailable" and r.json.get("error") == "unavailable",
          "healthz names the models: %r" % r)
finally:
    srv.close()
finish()
