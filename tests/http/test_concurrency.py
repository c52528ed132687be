#!/usr/bin/env python3
"""A small run of the load test (load.py) in the default suite: 400 requests
from 20 concurrent clients, sign-ins and GET /api/me, with the test password
hashes; every answer must be 200 and the server must stop cleanly.  The full
2,000-request run with real Argon2id hashes is `make bench-http`."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402

rc = load.main(["--requests", "400", "--clients", "20", "--fast-kdf"])
print("%d passed, %d failed" % (1 - rc, rc))
sys.exit(rc)
