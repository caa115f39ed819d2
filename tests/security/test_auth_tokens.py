"""Tokens (`[auth]`) against real daemons: without a valid token nothing but the documentation
answers; forged tokens (expired, another key, `alg: none`, HS256 signed with the Ed25519 public
key, a tampered payload) are refused with 401; a token's limits, rate and concurrency cap hold;
`sandkasten token` issues tokens the daemon takes; WebSocket sessions need one too."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import ROOT

pytestmark = pytest.mark.sandbox

SECRET = b"s" * 64
RUN = {"build": {"environment": "bash", "main_file": {"content": "echo hi"}}}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("keys")
    os.chmod(directory, 0o755)
    (directory / "secret").write_bytes(SECRET + b"\n")
    private = Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    (directory / "public.pem").write_bytes(public_pem)
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    (directory / "private.pem").write_bytes(private_pem)
    return {"dir": directory, "private": private, "public_pem": public_pem}


@pytest.fixture(scope="module")
def hs_daemon(daemon_factory: Callable[..., Any], keys: dict[str, Any]) -> Any:
    return daemon_factory(AUTH__SECRET_FILE=str(keys["dir"] / "secret"))


@pytest.fixture(scope="module")
def ed_daemon(daemon_factory: Callable[..., Any], keys: dict[str, Any]) -> Any:
    return daemon_factory(AUTH__PUBLIC_KEY_FILE=str(keys["dir"] / "public.pem"))


def token(claims: dict[str, Any] | None = None, key: Any = SECRET, algorithm: str = "HS256", **extra: Any) -> str:
    body = {"sub": "tester", "exp": int(time.time()) + 600, **(claims or {}), **extra}
    encoded: str = jwt.encode(body, key, algorithm=algorithm)
    return encoded


def post(daemon: Any, path: str, bearer: str | None, body: Any = RUN) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return requests.post(daemon.url + path, json=body, headers=headers, timeout=60)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_documentation_is_open_and_declares_the_bearer_scheme(hs_daemon: Any) -> None:
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert requests.get(hs_daemon.url + path, timeout=10).status_code == 200, path
    document = requests.get(hs_daemon.url + "/openapi.json", timeout=10).json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]


@pytest.mark.parametrize("path", ["/config", "/environments", "/metrics"])
def test_everything_else_needs_a_token(hs_daemon: Any, path: str) -> None:
    response = requests.get(hs_daemon.url + path, timeout=10)
    assert response.status_code == 401 and response.json()["error"] == "unauthorized", response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert requests.get(hs_daemon.url + path, timeout=10,
                        headers={"Authorization": f"Bearer {token()}"}).status_code == 200


def test_a_valid_token_runs_a_program(hs_daemon: Any) -> None:
    response = post(hs_daemon, "/run", token())
    assert response.status_code == 200 and response.json()["run"]["stdout"] == "hi\n", response.text


FORGED = {
    "missing": None,
    "not a jwt": "abc.def",
    "expired": token(exp=int(time.time()) - 5),
    "another key": token(key=b"x" * 64),
    "alg none": b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(json.dumps(
        {"sub": "tester", "exp": int(time.time()) + 600}).encode()) + ".",
    "no exp": jwt.encode({"sub": "tester"}, SECRET, algorithm="HS256"),
    "no sub": jwt.encode({"exp": int(time.time()) + 600}, SECRET, algorithm="HS256"),
    "HS512": token(algorithm="HS512"),
}


@pytest.mark.parametrize("name", FORGED)
def test_forged_tokens_are_refused(hs_daemon: Any, name: str) -> None:
    response = post(hs_daemon, "/run", FORGED[name])
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized" and response.json()["message"]


def test_a_tampered_payload_is_refused(hs_daemon: Any) -> None:
    header, _, signature = token().split(".")
    raised = b64(json.dumps({"sub": "tester", "exp": int(time.time()) + 600,
                             "limits": {"run": {"time": 1}}, "concurrency": 1000}).encode())
    assert post(hs_daemon, "/run", f"{header}.{raised}.{signature}").status_code == 401


def test_eddsa_tokens_and_the_hs_public_key_confusion(ed_daemon: Any, keys: dict[str, Any]) -> None:
    """A daemon with an Ed25519 public key takes EdDSA tokens of its private key only: an HS256
    token whose secret is the public key's PEM (the classic RS/HS confusion) is refused."""
    assert post(ed_daemon, "/run", token(key=keys["private"], algorithm="EdDSA")).status_code == 200
    # pyjwt refuses PEM keys as HMAC secrets, so the forged token is signed by hand
    header = b64(b'{"alg":"HS256","typ":"JWT"}')
    payload = b64(json.dumps({"sub": "tester", "exp": int(time.time()) + 600}).encode())
    signature = b64(hmac.new(keys["public_pem"], f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert post(ed_daemon, "/run", f"{header}.{payload}.{signature}").status_code == 401
    assert post(ed_daemon, "/run", token()).status_code == 401  # HS256 with some secret
    other = Ed25519PrivateKey.generate()
    assert post(ed_daemon, "/run", token(key=other, algorithm="EdDSA")).status_code == 401


def test_a_tokens_limits_lower_the_maxima(hs_daemon: Any) -> None:
    limited = token({"limits": {"run": {"time": 2, "memory": 100}}})
    body = {**RUN, "run": {"run_limits": {"time": 3}}}
    refused = post(hs_daemon, "/run", limited, body)
    assert refused.status_code == 400 and refused.json()["error"] == "run_limits_exceeded", refused.text
    assert refused.json()["details"] == [{"name": "time", "max_value": 2}]
    ran = post(hs_daemon, "/run", limited)
    assert ran.status_code == 200 and ran.json()["run"]["limits"]["time"] == 2
    assert ran.json()["run"]["limits"]["memory"] == 100
    # raising is not possible: the configured maximum stays
    generous = post(hs_daemon, "/run", token({"limits": {"run": {"time": 1000}}}))
    assert generous.json()["run"]["limits"]["time"] == 5


def test_over_the_rate_is_429_with_rate_limit_headers(hs_daemon: Any) -> None:
    rated = token({"rate": {"per_minute": 6, "burst": 2}}, sub="rated")
    first = requests.get(hs_daemon.url + "/config", headers={"Authorization": f"Bearer {rated}"}, timeout=10)
    assert first.status_code == 200 and first.headers["RateLimit-Limit"] == "2"
    assert first.headers["RateLimit-Remaining"] == "1"
    assert requests.get(hs_daemon.url + "/config", headers={"Authorization": f"Bearer {rated}"},
                        timeout=10).status_code == 200
    third = requests.get(hs_daemon.url + "/config", headers={"Authorization": f"Bearer {rated}"}, timeout=10)
    assert third.status_code == 429 and third.json()["error"] == "too_many_requests", third.text
    assert 1 <= int(third.headers["Retry-After"]) <= 10
    assert all(name in third.headers for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"))
    assert third.headers["RateLimit-Remaining"] == "0"


def test_a_concurrency_cap_refuses_the_request_past_it(hs_daemon: Any) -> None:
    capped = token({"concurrency": 1}, sub="capped")
    slow = {"build": {"environment": "bash", "main_file": {"content": "sleep 2; echo slow"}}}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, hs_daemon, "/run", capped, slow)
        time.sleep(0.5)
        second = post(hs_daemon, "/run", capped)
        assert second.status_code == 429 and second.headers["Retry-After"] == "1", second.text
        assert first.result().status_code == 200
    assert post(hs_daemon, "/run", capped).status_code == 200  # free again


def test_subjects_are_counted_in_metrics(hs_daemon: Any) -> None:
    bearer = token(sub="metrics-subject")
    requests.get(hs_daemon.url + "/config", headers={"Authorization": f"Bearer {bearer}"}, timeout=10)
    text = requests.get(hs_daemon.url + "/metrics", headers={"Authorization": f"Bearer {bearer}"}, timeout=10).text
    assert 'sandkasten_token_requests_total{subject="metrics-subject"}' in text


def test_sessions_need_a_token(hs_daemon: Any) -> None:
    program = post(hs_daemon, "/programs", token(), RUN["build"]).json()["program_id"]
    url = hs_daemon.url.replace("http://", "ws://") + f"/programs/{program}/connect"
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=10)
    with connect(url, additional_headers={"Authorization": f"Bearer {token()}"}) as ws:
        ws.send(json.dumps({"type": "start"}))
        assert json.loads(ws.recv(timeout=20)) == {"type": "stdout", "data": "hi\n"}


def test_sandkasten_token_issues_what_the_daemon_takes(hs_daemon: Any, keys: dict[str, Any]) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CONFIG_PATH": str(ROOT / "config.toml"),
           "AUTH__SECRET_FILE": str(keys["dir"] / "secret")}
    done = subprocess.run([sys.executable, "-m", "sandkasten_py", "token", "cli-user", "--run-limits", "time=2",
                           "--rate", "60", "--burst", "5", "--expires-in", "1h"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    issued = done.stdout.strip()
    claims = jwt.decode(issued, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "cli-user" and claims["limits"] == {"run": {"time": 2}}
    assert 3500 < claims["exp"] - time.time() <= 3600
    ran = post(hs_daemon, "/run", issued)
    assert ran.status_code == 200 and ran.json()["run"]["limits"]["time"] == 2
    # and the client and the CLI send it
    from sandkasten_py.client import SandkastenClient
    with SandkastenClient(hs_daemon.url, token=issued) as client:
        assert client.run_code("bash", "echo from the client").run.stdout == "from the client\n"
    unsigned = subprocess.run([sys.executable, "-m", "sandkasten_py", "token", "x"], cwd=ROOT,
                              env={**env, "AUTH__SECRET_FILE": ""}, capture_output=True, text=True, timeout=60)
    assert unsigned.returncode == 2 and "secret_file" in unsigned.stderr


def test_a_daemon_with_an_unusable_key_does_not_start(daemon_factory: Callable[..., Any], tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"too short")
    with pytest.raises(RuntimeError, match="auth.*at least 32"):
        daemon_factory(AUTH__SECRET_FILE=str(short))
