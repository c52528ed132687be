#!/usr/bin/env python3
"""The static pages: each page of the manifest with its type and the
security headers, no inline script, no external resource; and every way of
reaching another file — "..", percent-encoded dots and slashes, encoded and
raw NULs, over-long UTF-8, doubled slashes, names outside the manifest —
answered 404 (or 400 by the HTTP parser) with the server still up."""
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, check, check_security_headers, eq, finish

PAGES = {
    "/": "text/html",
    "/signin": "text/html",
    "/admin/users": "text/html",
    "/static/custos.css": "text/css",
    "/static/custos.js": "text/javascript",
    "/static/signin.js": "text/javascript",
    "/static/home.js": "text/javascript",
    "/static/users.js": "text/javascript",
    "/static/favicon.svg": "image/svg+xml",
    "/cases": "text/html",
    "/cases/new": "text/html",
    "/case": "text/html",
    "/case/examine": "text/html",
    "/case/letter": "text/html",
    "/audit": "text/html",
}
# The staff pages get the shared header of web/nav.html when loaded.
STAFF_PAGES = ["/", "/admin/users", "/cases", "/cases/new", "/case", "/case/examine",
               "/case/letter", "/audit"]
NAV_LINKS = ["/", "/cases", "/cases/new", "/admin/users", "/audit"]

TRAVERSALS = [
    "/../CMakeLists.txt",
    "/../../../../etc/passwd",
    "/static/../signin",
    "/static/../../web/signin.html",
    "/static/%2e%2e/%2e%2e/etc/passwd",
    "/%2e%2e/CMakeLists.txt",
    "/static/%2E%2E%2Fsignin.html",
    "/static/..%2fcustos.css",
    "/static/..%5ccustos.css",
    "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/signin%00",
    "/signin%00.html",
    "/static/custos.css%00.html",
    "/static/custos.css/",
    "/static//custos.css",
    "//static/custos.css",
    "/static/./custos.css",
    "/static/custos.css.",
    "/index.html",
    "/signin.html",
    "/users.html",
    "/web/signin.html",
    "/static/",
    "/static",
    "/admin/",
    "/admin/users/",
    "/.git/config",
    "/%2fetc%2fpasswd",
    "/static/%73igning.js",
]

srv = Server(users=False)
try:
    for path, ctype in PAGES.items():
        r = srv.request("GET", path)
        eq(r.status, 200, "GET %s" % path)
        check((r.header("content-type") or "").startswith(ctype),
              "GET %s: Content-Type %r" % (path, r.header("content-type")))
        check_security_headers(r, "GET %s" % path)
        check(len(r.body) > 0, "GET %s: a body" % path)
        h = srv.request("HEAD", path)
        eq((h.status, h.body), (200, b""), "HEAD %s" % path)
        if ctype == "text/html":
            html = r.body.decode()
            check(re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None,
                  "%s: no inline script (CSP)" % path)
            check(" style=" not in html and "<style" not in html, "%s: no inline style" % path)
            check(re.search(r"""(src|href)=["']?(https?:)?//""", html) is None,
                  "%s: no external resource" % path)
            check('lang="en"' in html, "%s: declares its language" % path)
    for path in STAFF_PAGES:
        html = srv.request("GET", path).body.decode()
        check("custos:nav" not in html, "%s: the header marker is replaced" % path)
        eq(html.count('<nav aria-label="Main">'), 1, "%s: one main navigation" % path)
        for link in NAV_LINKS:
            check('<a href="%s"' % link in html, "%s: links to %s" % (path, link))
        current = re.findall(r'<a href="([^"]*)" aria-current="page"', html)
        eq(current, [path] if path in NAV_LINKS else [], "%s: the current page marked" % path)
    check(srv.request("GET", "/nav.html").status == 404 and
          srv.request("GET", "/static/nav.html").status == 404, "the header fragment is not served")
    for path in PAGES:
        if path.endswith(".js") or path.endswith(".css"):
            text = srv.request("GET", path).body.decode()
            check(re.search(r"https?://", text) is None, "%s: no external URL" % path)

    for path in TRAVERSALS:
        r = srv.request("GET", path)
        eq(r.status, 404, "GET %s" % path)
        check(b"root:" not in r.body and b"[core]" not in r.body and b"project(" not in r.body,
              "GET %s: no file content" % path)

    # Raw requests http.client refuses to send: control bytes in the path.
    # libmicrohttpd 0.9.75 hands the path over as a C string, so a raw NUL
    # cuts it there: what can come back is the page the bytes before the NUL
    # name exactly, never another file.
    css = srv.request("GET", "/static/custos.css").body
    signin = srv.request("GET", "/signin").body
    for raw_path, allowed in ((b"/static/\xc0\xae\xc0\xae/etc/passwd", None),
                              (b"/static/custos.css\r\nX: y", None),
                              (b"/../../etc/passwd\x00", None),
                              (b"/static/../signin\x00", None),
                              (b"/signin\x00/../../etc/passwd", signin),
                              (b"/static/custos.css\x00.html", css)):
        out = srv.raw(b"GET " + raw_path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status = out.split(b" ", 2)[1] if out.startswith(b"HTTP/1.") else b""
        body = out.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in out else b""
        if status == b"200":
            check(allowed is not None and body == allowed,
                  "raw GET %r: 200 only for the page before the NUL" % raw_path)
        else:
            check(status in (b"400", b"404", b""), "raw GET %r: %r" % (raw_path, out[:80]))
        check(b"root:" not in out, "raw GET %r: no file outside the manifest" % raw_path)
    eq(srv.request("GET", "/healthz").status, 200, "server up after the traversal attempts")
finally:
    srv.close()
finish()
