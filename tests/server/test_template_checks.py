"""Template choices the server checks (an importable module, an existing path) and uploaded data
files: listed unavailable and refused on submit; uploads capped, names sanitised, offered first
by a file parameter that takes them, and usable as its value."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from runwatch.server.templates import TemplateError, load_templates
from runwatch.server.uploads import MAX_UPLOAD_BYTES
from tests.asgi import InProcessServer, serve_in_process, settings_for

TEMPLATES = """
[templates.fit]
project = "checks"
command = [{python}, "-c", "pass", "{{model}}", "{{data}}"]

[templates.fit.params.model]
type = "choice"
choices = ["linear", "torchy", "missing-module", "missing-path"]
default = "linear"

[templates.fit.params.model.requires]
torchy = {{ module = "json" }}
missing-module = {{ module = "no_such_module_xyz" }}
missing-path = {{ path = "weights/absent.bin" }}

[templates.fit.params.data]
type = "file"
dir = "samples"
uploads = true
"""


def write(root: Path) -> Path:
    (root / "samples").mkdir(parents=True)
    (root / "samples" / "iris.csv").write_text("a,b\n")
    path = root / "runwatch.toml"
    path.write_text(textwrap.dedent(TEMPLATES.format(python=json.dumps(sys.executable))))
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[InProcessServer]:
    settings = settings_for(tmp_path / "data", templates=write(tmp_path), max_concurrent=0)
    with serve_in_process(settings) as s:
        yield s


def params_of(server: InProcessServer) -> dict[str, dict[str, object]]:
    with server.client() as c:
        template = c.get("/api/v1/templates").json()["templates"][0]
    return {p["name"]: p for p in template["params"]}


def test_a_choice_whose_check_fails_is_listed_unavailable_and_refused(
    server: InProcessServer,
) -> None:
    model = params_of(server)["model"]
    assert model["unavailable"] == ["missing-module", "missing-path"]
    assert "requires" not in model  # the server's paths and checks stay on the server
    with server.client() as c:
        ok = c.post(
            "/api/v1/templates/fit/runs", json={"params": {"model": "torchy", "data": "iris.csv"}}
        )
        assert ok.status_code == 201, ok.text
        refused = c.post(
            "/api/v1/templates/fit/runs",
            json={"params": {"model": "missing-module", "data": "iris.csv"}},
        )
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["field"] == "$.params.model"
        assert "module 'no_such_module_xyz' is not installed" in error["message"]
    # The check runs on each listing: the path appears, the choice becomes available.
    weights = server.settings.templates.parent / "weights"  # type: ignore[union-attr]
    weights.mkdir()
    (weights / "absent.bin").write_bytes(b"w")
    assert params_of(server)["model"]["unavailable"] == ["missing-module"]


def test_requires_is_checked_when_the_templates_load(tmp_path: Path) -> None:
    path = write(tmp_path)
    text = path.read_text()
    torchy = 'torchy = { module = "json" }'
    for replacement, said in [
        ('nope = { module = "json" }', "requires names 'nope', which is not a choice"),
        ('torchy = { module = "os.path" }', "requires.torchy.module must be a top-level name"),
        ("torchy = {}", "requires.torchy needs a module or a path"),
    ]:
        path.write_text(text.replace(torchy, replacement))
        with pytest.raises(TemplateError, match=re.escape(said)):
            load_templates(path)


def test_uploads_are_capped_sanitised_listed_first_and_usable(server: InProcessServer) -> None:
    octet = {"Content-Type": "application/octet-stream"}
    with server.client() as c:
        content = b"x,y\n1,2\n"
        stored = c.post(
            "/api/v1/uploads",
            params={"name": "../../My Data (1).csv"},
            content=content,
            headers=octet,
        )
        assert stored.status_code == 201, stored.text
        assert stored.json() == {
            "name": "My_Data__1_.csv",
            "value": "@uploads/My_Data__1_.csv",
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        uploads = server.data_dir / "uploads"
        assert (uploads / "My_Data__1_.csv").read_bytes() == content
        assert (
            c.post(
                "/api/v1/uploads", params={"name": ".hidden"}, content=b"h", headers=octet
            ).json()["name"]
            == "hidden"
        )

        # Not raw bytes (a form, or no body at all): 415 naming the header, nothing kept.
        for headers in ({"Content-Type": "multipart/form-data; boundary=x"}, {}):
            refused = c.post("/api/v1/uploads", params={"name": "form.csv"}, headers=headers)
            assert refused.status_code == 415, refused.text
            assert refused.json()["error"]["field"] == "header.content-type"
        assert not (uploads / "form.csv").exists()

        # Over the cap: 413 naming it, and nothing kept (declared, or streamed without a length).
        big = c.post(
            "/api/v1/uploads",
            params={"name": "big.bin"},
            content=b"0" * (MAX_UPLOAD_BYTES + 1),
            headers=octet,
        )
        assert big.status_code == 413
        assert big.json()["error"]["code"] == "upload_too_large"
        assert f"{MAX_UPLOAD_BYTES:,} bytes" in big.json()["error"]["message"]

        def chunks() -> Iterator[bytes]:
            for _ in range(MAX_UPLOAD_BYTES // (1 << 20) + 1):
                yield b"0" * (1 << 20)

        streamed = c.post(
            "/api/v1/uploads", params={"name": "big.bin"}, content=chunks(), headers=octet
        )
        assert streamed.status_code == 413
        assert sorted(p.name for p in uploads.iterdir()) == ["My_Data__1_.csv", "hidden"]

        # A name with nothing usable left: 400 naming the field.
        bad = c.post("/api/v1/uploads", params={"name": "../.."}, content=b"x", headers=octet)
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "query.name"

        data = params_of(server)["data"]
        assert data["uploaded"] == ["@uploads/My_Data__1_.csv", "@uploads/hidden"]
        assert data["files"] == ["iris.csv"]
        run = c.post(
            "/api/v1/templates/fit/runs", json={"params": {"data": "@uploads/My_Data__1_.csv"}}
        )
        assert run.status_code == 201, run.text
        assert run.json()["snapshot"]["argv"][-1] == str((uploads / "My_Data__1_.csv").resolve())
        escape = c.post(
            "/api/v1/templates/fit/runs", json={"params": {"data": "@uploads/../runwatch.toml"}}
        )
        assert escape.status_code == 422 and escape.json()["error"]["field"] == "$.params.data"


def test_uploading_needs_the_admin_scope(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", templates=write(tmp_path), token="rw_boot")
    with serve_in_process(settings) as s, s.client() as c:
        assert (
            c.post(
                "/api/v1/uploads",
                params={"name": "a.csv"},
                content=b"a",
                headers={"Content-Type": "application/octet-stream", "Authorization": ""},
            ).status_code
            == 401
        )
