"""Module-level tests of library/http_probe.py against an in-process HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_probe
import pytest

from tests.unit.plugins.modules.conftest import invoke_module

ALLOWED = "https://copiloto.saptiva.com"
TOKEN = "bearer-token-unit-777"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        return

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_OPTIONS(self) -> None:
        if self.headers.get("Origin") == ALLOWED:
            self.reply(200, b"OK", {
                "Access-Control-Allow-Origin": ALLOWED,
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": "content-type, authorization",
            })  # fmt: skip
        else:
            self.reply(400, b"Disallowed CORS origin")

    def do_GET(self) -> None:
        if self.path == "/health":
            self.reply(200, json.dumps({"status": "healthy", "checks": {"redis": {"status": "unhealthy"}}}).encode())
        elif self.path == "/upstream":
            self.reply(200 if self.headers.get("Authorization") == "Bearer " + TOKEN else 401)
        else:
            self.reply(404)

    do_HEAD = do_GET


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 64
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def run(capsys: pytest.CaptureFixture[str], **args: Any) -> dict[str, Any]:
    result, out = invoke_module(http_probe.main, capsys, **args)
    assert TOKEN not in out
    return result


def test_audit_everything(base: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(
        capsys,
        url=base + "/health",
        cors_origins=[ALLOWED, "http://localhost:3000"],
        burst=20,
        health_json=True,
        upstream_url=base + "/upstream",
        upstream_token=TOKEN,
        upstream_method="GET",
        mode="audit",
    )
    assert result["changed"] is False and result.get("failed") is not True
    assert [c["allowed"] for c in result["cors"]] == [True, False]
    assert result["burst"]["statuses"] == {"200": 20}
    assert result["health"] == {"status": "healthy", "checks": {"redis": "unhealthy"}}
    assert result["upstream"]["status"] == 200 and result["upstream"]["reachable"] is True
    codes = [f["code"] for f in result["findings"]]
    assert codes == ["HEALTH_CHECK_UNHEALTHY", "CORS_PREFLIGHT_FAILED"]


def test_enforce_status_unexpected(base: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, url=base + "/missing")
    assert result["failed"] is True
    assert [f["code"] for f in result["findings"]] == ["HTTP_STATUS_UNEXPECTED"]
    assert "returned 404, expected 200" in result["msg"]


def test_enforce_passes(base: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, url=base + "/health", cors_origins=[ALLOWED], cors_method="GET")
    assert result.get("failed") is not True and result["findings"] == []
    assert result["msg"].endswith("all checks passed")


def test_wrong_token_is_reported_as_status(base: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = run(
        capsys, url=base + "/health", upstream_url=base + "/upstream", upstream_token="wrong-token-x", mode="audit"
    )
    assert result["upstream"]["status"] == 401


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"url": "ftp://127.0.0.1/"}, "url: ftp://127.0.0.1/ is not an http(s) URL"),
        ({"url": "http://127.0.0.1/", "upstream_url": "file:///etc/passwd"}, "upstream_url"),
        ({"url": "http://127.0.0.1/", "burst": -1}, "burst must be between 0 and 1000"),
        ({"url": "http://127.0.0.1/", "upstream_token": TOKEN}, "upstream_url"),
    ],
)
def test_argument_errors(capsys: pytest.CaptureFixture[str], args: dict[str, Any], expected: str) -> None:
    result = run(capsys, **args)
    assert result["failed"] is True and expected in result["msg"]


def test_url_password_masked(base: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = base.replace("http://", "http://user:Pw-In-Url-99@") + "/health"
    result = run(capsys, url=url, mode="audit")
    assert "Pw-In-Url-99" not in json.dumps(result)
