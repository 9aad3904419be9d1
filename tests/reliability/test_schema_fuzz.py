"""Every phase of schemathesis (examples, coverage, fuzzing, stateful) against a real server with
a token, on each store, bounded in time: any server error, undeclared status or content type,
schema-valid request refused, schema-invalid one taken, or wrong answer to an undeclared
method fails the test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import fresh_database
from tests.servers import ServerProcess

TOKEN = "fuzz-admin-token"
# The run's budget per store (schemathesis spends all of it: fuzzing and stateful repeat).
BUDGET = {"sqlite": 100, "postgres": 60}
CONFIG = """
# A path parameter of any string (a run's id) has no schema-invalid value a URL can carry, so
# negative fuzzing filters every one it makes: hypothesis's health check then failed the run at
# random (an operation with such a parameter and a body, one time in eight).
suppress-health-check = ["filter_too_much"]

# A producer's long-poll waits up to `wait` s: the fuzzer would spend its budget waiting.
[parameters]
"query.wait" = 0

# A webhook's URL is checked beyond what a schema can say: its parse by the HTTP client (400)
# and the server's target policy, which resolves the host (422 webhook_refused).
# 503 is the store's declared "busy or unavailable: retry" (PostgreSQL under a saturated CI
# machine); a crash is a 500, and any unhandled exception also fails the server-log check below.
[checks.not_a_server_error]
expected-statuses = ["2XX", "3XX", "4XX", 503]

# A batch's limits span fields (values across rows, bytes of the whole body) beyond what a schema
# can say: 400/422 name the limit.
[[operations]]
include-path = "/api/v1/runs/{run_id}/batches"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2XX", 400, 401, 403, 404, 409, 422, 429, 503]

# A blob's body must hash to the path's SHA-256 and be of its Content-Type (400 names which).
[[operations]]
include-name = "PUT /api/v1/runs/{run_id}/blobs/{sha256}"
checks.positive_data_acceptance.expected-statuses = ["2XX", 400, 401, 403, 404, 413, 415]

# Grouped blobs, likewise (400 names the blob), and the manifest's sizes must add up to the body.
[[operations]]
include-name = "POST /api/v1/runs/{run_id}/blobs"
checks.positive_data_acceptance.expected-statuses = ["2XX", 400, 401, 403, 404, 413, 415]
# A runs query is a language: a string the schema allows may still not parse (400 names `q`).
[[operations]]
include-name = ["GET /api/v1/runs", "GET /api/v1/run-groups", "GET /api/v1/run-fields"]
checks.positive_data_acceptance.expected-statuses = ["2XX", 400, 401, 403, 404, 409, 429]

[[operations]]
include-path = "/api/v1/projects/{project}/rules"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2XX", 400, 401, 403, 404, 409, 422, 429]
"""
# Bodies of grouped blob uploads (a type schemathesis cannot make up): a manifest and its blobs.
HOOKS = r"""
import hashlib

import schemathesis
from hypothesis import strategies as st

from runwatch.protocol import BLOBS_MIME, encode_blobs

png = st.binary(max_size=64).map(lambda tail: b"\x89PNG\r\n\x1a\n" + tail)
blob = png.map(lambda data: (hashlib.sha256(data).hexdigest(), "image/png", data))
schemathesis.openapi.media_type(BLOBS_MIME, st.lists(blob, min_size=1, max_size=8).map(encode_blobs))
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[str]]]:
    if request.param == "sqlite":
        yield "sqlite", []
        return
    with fresh_database() as url:
        yield "postgres", ["--store", url]


def test_every_phase_finds_no_server_error_and_no_undeclared_answer(
    tmp_path: Path, store: tuple[str, list[str]]
) -> None:
    name, args = store
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    (tmp_path / "blob_hooks.py").write_text(HOOKS)
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "blob_hooks", "PYTHONPATH": path}
    server = ServerProcess(tmp_path / "data", token=TOKEN, extra_args=args).start()
    try:
        done = subprocess.run(
            [
                sys.executable, "-m", "schemathesis.cli", "--config-file", str(config),
                "run", f"{server.url}/openapi.json",
                "--header", f"Authorization: Bearer {TOKEN}",
                "--phases", "examples,coverage,fuzzing,stateful",
                "--max-time", str(BUDGET[name]),
                "--checks", "all",
                "--exclude-path-regex", "/tensorboard$",  # starts processes: its own tests
                "--workers", "1",  # CPython 3.11's ast.parse is not thread-safe (hypothesis uses it)
                "--request-timeout", "20",
                "--no-color",
            ],
            capture_output=True, text=True, timeout=BUDGET[name] + 120, cwd=tmp_path, env=env,
        )  # fmt: skip
    finally:
        server.stop()
    summary = done.stdout[-12_000:]
    assert done.returncode == 0, f"schemathesis found problems:\n{summary}\n{done.stderr[-2000:]}"
    assert "Tested:" in done.stdout and "Stateful" in done.stdout, summary
    assert "Traceback" not in server.log_path.read_text(), server.log_path.read_text()[-4000:]
