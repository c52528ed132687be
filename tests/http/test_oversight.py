#!/usr/bin/env python3
"""GET /oversight, the public oversight page (GOV-22): answered without a
session, as HTML with the report of every year (the same figures as
`custos report --format html`, with its SVG charts), the checkpoint it was
computed at and the log's verifier key; reading it adds no audit entry;
other methods get 405."""
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN, SOURCE, Server, check, check_security_headers, eq, finish, password_of

HISTORY = os.path.join(SOURCE, "tests", "data", "demo", "history.csv")


def per_year(path):
    years = {}
    with open(path) as f:
        next(f)
        for line in f:
            if line.strip():
                years[line[:4]] = years.get(line[:4], 0) + 1
    return years


def status(srv):
    return json.loads(srv.cli("status", "--json").stdout)


def main():
    srv = Server()
    try:
        # An empty database: the page still answers, with no year.
        r = srv.request("GET", "/oversight")
        eq(r.status, 200, "GET /oversight on an empty database")
        eq(r.header("content-type"), "text/html; charset=utf-8", "content type")

        srv.cli("request", "import-history", HISTORY, "--as", ADMIN, as_password=password_of(ADMIN))
        expected = per_year(HISTORY)
        eq(sum(expected.values()), 53, "rows of the demo history")
        before = status(srv)

        r = srv.request("GET", "/oversight")
        eq(r.status, 200, "GET /oversight without a cookie")
        eq(r.header("content-type"), "text/html; charset=utf-8", "content type")
        check_security_headers(r, "GET /oversight")
        csp = r.header("content-security-policy") or ""
        check("style-src 'self' 'unsafe-inline'" in csp, "the page's CSP allows its style: %r" % csp)
        check("script-src 'none'" in csp, "the page's CSP runs no script: %r" % csp)
        check(r.header("set-cookie") is None, "no cookie set")
        page = r.body.decode("utf-8")
        check("<svg" in page, "the report's SVG charts")
        total = 0
        for year, n in expected.items():
            m = re.search(r"<h2>%s</h2>\n<table><tr><th>requests</th><td>(\d+)</td>" % year, page)
            check(m is not None, "the year %s" % year)
            if m:
                eq(int(m.group(1)), n, "requests of %s" % year)
                total += int(m.group(1))
        eq(total, 53, "requests of all years")
        check("<h2>2013</h2>" in page, "the year 2013")
        cp = before["checkpoint"]
        check("tree size %d, root <code>%s</code>" % (cp["size"], cp["root"]) in page,
              "the checkpoint %d %s on the page" % (cp["size"], cp["root"]))
        check(before["log_key"] in page, "the verifier key on the page")
        check("custos audit verify --key" in page and "--checkpoint" in page,
              "how to verify")
        check("tools/verify-proof" in page, "the offline verifier named")
        check(page.rstrip().endswith("</body></html>"), "one whole page")

        # A public read of published aggregates: no audit entry.
        after = status(srv)
        eq(after["audit_entries"], before["audit_entries"], "audit entries after GET /oversight")

        # The same page as `custos report --format html` of the same years (taken
        # after the page: the auditor's report appends an audit entry), plus the
        # verification section.
        year = time.gmtime().tm_year
        cli = srv.cli("report", "--format", "html", "--to", str(year), "--as", "aldo",
                      as_password=password_of("aldo")).stdout
        cut = page.index("<section><h2>How to verify</h2>")
        eq(page[:cut] + "</body></html>\n", cli, "the page is the CLI's HTML report")

        # The same page for a signed-in user, and HEAD.
        c = srv.client("ivan")
        eq(c.call("GET", "/oversight").status, 200, "GET /oversight signed in")
        eq(srv.request("HEAD", "/oversight").status, 200, "HEAD /oversight")

        for method in ("POST", "PUT", "DELETE"):
            r = srv.request(method, "/oversight", b"")
            eq(r.status, 405, "%s /oversight" % method)
            eq(r.header("allow"), "GET, HEAD", "%s /oversight: Allow" % method)
        # Other routes keep the default policy.
        r = srv.request("GET", "/healthz")
        check("unsafe-inline" not in (r.header("content-security-policy") or ""),
              "the default CSP elsewhere")
        check(srv.alive(), "the server is still up")
    finally:
        srv.close()
    finish()


if __name__ == "__main__":
    main()
