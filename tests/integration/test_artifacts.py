"""A program's build output, listed and downloaded over HTTP from a real daemon:
GET /programs/{program_id}/artifacts and GET /programs/{program_id}/artifacts/{name}."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n'


def build(daemon: Any, environment: str, content: str) -> str:
    response = daemon.post("/programs", json={"environment": environment,
                                              "main_file": {"content": f"{content}\n// {uuid.uuid4()}\n"}})
    assert response.status_code == 201, response.text
    program_id: str = response.json()["program_id"]
    return program_id


def test_an_emcc_build_lists_and_serves_app_js_and_app_wasm(daemon: Any) -> None:
    program_id = build(daemon, "emcc", HELLO_C)
    listed = daemon.get(f"/programs/{program_id}/artifacts")
    assert listed.status_code == 200, listed.text
    artifacts = {a["name"]: a for a in listed.json()["artifacts"]}
    assert sorted(artifacts) == ["app.js", "app.wasm"]
    assert artifacts["app.wasm"]["content_type"] == "application/wasm"
    assert artifacts["app.js"]["content_type"] == "text/javascript; charset=utf-8"
    for name, artifact in artifacts.items():
        response = daemon.get(f"/programs/{program_id}/artifacts/{name}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == artifact["content_type"]
        assert len(response.content) == artifact["size"] == int(response.headers["content-length"])
        assert hashlib.sha256(response.content).hexdigest() == artifact["sha256"]
        assert response.headers["etag"] == f'"{artifact["sha256"]}"'
        assert response.headers["cache-control"] == "public, max-age=600"  # program_ttl
    assert daemon.get(f"/programs/{program_id}/artifacts/app.wasm").content.startswith(b"\0asm")


@pytest.mark.parametrize("if_none_match", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
def test_a_current_copy_is_answered_304(daemon: Any, if_none_match: str) -> None:
    program_id = build(daemon, "python", "print(1)")
    url = f"/programs/{program_id}/artifacts/code.py"
    etag = daemon.get(url).headers["etag"]
    response = daemon.get(url, headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    changed = daemon.get(url, headers={"If-None-Match": '"0000"'})
    assert changed.status_code == 200 and changed.content.startswith(b"print(1)")


def test_without_a_compile_step_the_sources_are_the_artifacts(daemon: Any) -> None:
    response = daemon.post("/programs", json={"environment": "python", "main_file": {"content": "import lib"},
                                              "files": [{"name": "lib.py", "content": f"# {uuid.uuid4()}"}]})
    program_id = response.json()["program_id"]
    listed = daemon.get(f"/programs/{program_id}/artifacts").json()["artifacts"]
    assert [(a["name"], a["content_type"]) for a in listed] == [
        ("code.py", "application/octet-stream"), ("lib.py", "application/octet-stream")]


def test_missing_programs_and_files_are_404_in_the_envelope(daemon: Any) -> None:
    program_id = build(daemon, "python", "print(2)")
    missing = daemon.get(f"/programs/{program_id}/artifacts/app.wasm")
    assert missing.status_code == 404
    assert missing.json()["error"] == "artifact_not_found"
    assert "code.py" in missing.json()["message"]  # what there is
    for path in (f"/programs/{uuid.uuid4()}/artifacts", f"/programs/{uuid.uuid4()}/artifacts/app.js"):
        response = daemon.get(path)
        assert (response.status_code, response.json()["error"]) == (404, "program_not_found")
    bad_id = daemon.get("/programs/not-a-uuid/artifacts")
    assert bad_id.status_code == 422


def test_a_download_counts_as_a_use(daemon: Any) -> None:
    """Listing or downloading postpones the program's expiry like a run does."""
    program_id = build(daemon, "python", "print(3)")
    last_run = daemon.programs_dir / program_id / "last_run"
    before = last_run.read_text() if last_run.exists() else ""
    time.sleep(1.1)  # the record is in whole seconds
    assert daemon.get(f"/programs/{program_id}/artifacts/code.py").status_code == 200
    assert last_run.read_text() != before
