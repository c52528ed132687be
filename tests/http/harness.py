"""Helpers for the HTTP integration tests (tests/http/test_*.py).

Each test starts its own `custos serve` on a free port (--listen 127.0.0.1:0;
the port is read from the line the server prints) with a fresh database in a
temporary folder: an administrator made by `custos init` and one user per
role made by `custos user add`, all with CUSTOS_TEST_FAST_KDF=1.  CTest sets
CUSTOS (the binary) and CUSTOS_SOURCE_DIR.  Checks are counted; a script ends
with finish(), which prints "N passed, M failed" and sets the exit status.
Python 3 standard library only.
"""
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CUSTOS = os.environ.get("CUSTOS")
SOURCE = os.environ.get("CUSTOS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
START_TIMEOUT = 60  # seconds; ASan builds start slowly

ADMIN = "alice"
# One user per role besides the administrator.
USERS = {
    "admin": "alice",
    "intake": "ivan",
    "manager": "mary",
    "governor": "gina",
    "legal": "lena",
    "examiner": "emil",
    "auditor": "aldo",
}
ROLES = list(USERS)


def password_of(user):
    return user + " password 12345"


# ---- checks -----------------------------------------------------------------------

_passed = 0
_failed = 0


def check(cond, what):
    """Counts a check; prints what failed."""
    global _passed, _failed
    if cond:
        _passed += 1
    else:
        _failed += 1
        print("FAIL: " + what, file=sys.stderr, flush=True)
    return cond


def eq(actual, expected, what):
    return check(actual == expected, "%s: got %r, expected %r" % (what, actual, expected))


def finish():
    print("%d passed, %d failed" % (_passed, _failed))
    sys.exit(1 if _failed or _passed == 0 else 0)


# ---- the server -------------------------------------------------------------------------


class Reply:
    """One HTTP response: status, headers (lower-case names), body bytes and JSON."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:200])


class Server:
    """A custos database and a running `custos serve` on it."""

    def __init__(self, args=(), users=True, env=None, start=True):
        if not CUSTOS:
            print("CUSTOS must name the custos binary", file=sys.stderr)
            sys.exit(2)
        self.dir = tempfile.mkdtemp(prefix="custos-http-test.")
        self.db = os.path.join(self.dir, "custos.db")
        self.env = dict(os.environ)
        self.env.update({"CUSTOS_TEST_FAST_KDF": "1", "CUSTOS_DB": self.db})
        if os.environ.get("CUSTOS_MODELS_DIR") and not os.environ.get("CUSTOS_MODELS"):
            self.env["CUSTOS_MODELS"] = os.environ["CUSTOS_MODELS_DIR"]
        for k in ("CUSTOS_PASSWORD", "CUSTOS_NEW_PASSWORD"):
            self.env.pop(k, None)
        if env:
            self.env.update(env)
        self.proc = None
        self.port = None
        # A list to collect every (method, path, Reply) of request() in, or None.
        self.transcript = None
        self.stderr_path = os.path.join(self.dir, "server.err")
        self.cli("init", "--admin", ADMIN, new_password=password_of(ADMIN))
        if users:
            for role, name in USERS.items():
                if name != ADMIN:
                    self.add_user(name, role)
        if start:
            self.start(args)

    def cli(self, *args, new_password=None, as_password=None, check_status=True):
        env = dict(self.env)
        if new_password is not None:
            env["CUSTOS_NEW_PASSWORD"] = new_password
        if as_password is not None:
            env["CUSTOS_PASSWORD"] = as_password
        p = subprocess.run([CUSTOS, *args], env=env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120)
        if check_status and p.returncode != 0:
            raise RuntimeError("custos %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
        return p

    def add_user(self, name, role, trained_until=None):
        args = ["user", "add", name, "--role", role, "--as", ADMIN]
        if trained_until:
            args += ["--trained-until", trained_until]
        self.cli(*args, new_password=password_of(name), as_password=password_of(ADMIN))

    def start(self, args=()):
        """Starts `custos serve` with args; returns once it listens."""
        self.errfile = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen([CUSTOS, "serve", "--listen", "127.0.0.1:0", *args],
                                     env=self.env, stdout=subprocess.PIPE, stderr=self.errfile,
                                     stdin=subprocess.DEVNULL)
        line = _readline_timeout(self.proc, START_TIMEOUT)
        if not line.startswith("custos: serving http"):
            self.proc.kill()
            raise RuntimeError("server did not start: %r; stderr: %s" % (line, self.stderr()))
        self.scheme = line.split("://")[0].split()[-1]
        self.port = int(line.rstrip().rstrip("/").rsplit(":", 1)[1])

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Signals the server and waits; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            print("server did not stop within %d s" % timeout, file=sys.stderr)
            rc = -999
        self.proc.stdout.close()
        self.errfile.close()
        self.proc = None
        return rc

    def close(self):
        """Stops the server (checking a clean exit) and removes the folder."""
        rc = self.stop()
        if rc is not None:
            eq(rc, 0, "server exit status on SIGTERM (stderr: %s)" % self.stderr()[-2000:])
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- requests ----

    def connect(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30):
        """One request on a fresh connection; body: bytes, str or a JSON-able value."""
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        c = self.connect(timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            reply = Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            c.close()
        if self.transcript is not None:
            self.transcript.append((method, path, reply))
        return reply

    def raw(self, data, timeout=10):
        """Sends raw bytes on a new socket; returns what comes back until close or timeout."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        out = b""
        try:
            s.sendall(data)
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except (socket.timeout, ConnectionError):
            pass
        finally:
            s.close()
        return out

    def client(self, user=None):
        """A Client, signed in as user when given."""
        c = Client(self)
        if user is not None:
            r = c.login(user)
            if r.status != 200:
                raise RuntimeError("sign-in of %s failed: %r" % (user, r))
        return c


class Client:
    """A browser-like client: keeps the session cookie and the CSRF token."""

    def __init__(self, server):
        self.server = server
        self.cookie = None
        self.csrf = None

    def login(self, user, password=None):
        r = self.server.request("POST", "/api/session",
                                {"user": user, "password": password or password_of(user)},
                                headers=self._cookie_header())
        if r.status == 200:
            sc = r.header("set-cookie") or ""
            self.cookie = sc.split(";")[0]
            self.csrf = r.json["csrf"]
        return r

    def _cookie_header(self):
        return {"Cookie": self.cookie} if self.cookie else {}

    def call(self, method, path, body=None, csrf=True, headers=None):
        h = self._cookie_header()
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h["X-CSRF-Token"] = self.csrf
        h.update(headers or {})
        return self.server.request(method, path, body, headers=h)


def models_dir():
    """The face models folder the tests use: $CUSTOS_MODELS_DIR, else the source tree's."""
    return os.environ.get("CUSTOS_MODELS_DIR") or os.path.join(SOURCE, "models")


def multipart(parts, boundary=None):
    """A multipart/form-data body built by hand.  parts: (name, filename or None,
    content type or None, bytes); returns (body, Content-Type header value)."""
    boundary = boundary or "custos-test-" + secrets.token_hex(12)
    out = b""
    for name, filename, ctype, data in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        disp = 'form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out += b"Content-Disposition: " + disp.encode() + b"\r\n"
        if ctype is not None:
            out += b"Content-Type: " + ctype.encode() + b"\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


def _readline_timeout(proc, timeout):
    """The first line the process prints, or "" after timeout seconds or at exit."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.time() + timeout
    buf = b""
    while time.time() < deadline:
        if not sel.select(timeout=max(0.0, deadline - time.time())):
            break
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
        if b"\n" in buf:
            break
    sel.close()
    return buf.decode("utf-8", "replace").split("\n")[0]


SECURITY_HEADERS = {
    "content-security-policy": lambda v: v is not None and "default-src 'self'" in v,
    "x-content-type-options": lambda v: v == "nosniff",
    "referrer-policy": lambda v: v == "no-referrer",
    "x-frame-options": lambda v: v == "DENY",
}


def check_security_headers(r, what):
    for name, ok in SECURITY_HEADERS.items():
        check(ok(r.header(name)), "%s: header %s is %r" % (what, name, r.header(name)))
