"""copilotos_notify: check mode sends nothing, bad URLs and unreachable webhooks warn, never fail."""

from __future__ import annotations

import json
import socket

import copilotos_notify

from tests.unit.plugins.modules.conftest import ModuleRunner

SECRET = "Sup3r$ecret!pw"
URL = "https://hooks.example.com/services/T000/B000/secret-token"


def test_endpoint_hides_the_path() -> None:
    assert copilotos_notify.endpoint(URL) == "https://hooks.example.com"
    assert copilotos_notify.endpoint("http://127.0.0.1:9000/x?token=1") == "http://127.0.0.1:9000"


def test_check_mode_builds_and_returns_the_payload_without_sending(run_module: ModuleRunner) -> None:
    result = run_module(copilotos_notify.main, check=True, url="http://127.0.0.1:1/never", event="before_recreate",
                        host="lab1", facts={"keys": ["REDIS_PASSWORD"], "expected_downtime_s": 10},
                        secrets=[SECRET])
    assert not result["changed"] and not result["sent"] and result["status"] == -1
    assert result["payload"]["copilotos"]["keys"] == ["REDIS_PASSWORD"]
    assert "warnings" not in result


def test_a_closed_port_is_a_warning(run_module: ModuleRunner) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = run_module(copilotos_notify.main, url="http://127.0.0.1:%d/hook/secret-token" % port,
                        event="after_verify", host="lab1", facts={"result": "remediated"}, timeout=1)
    assert not result.get("failed") and not result["sent"] and result["status"] == -1
    warnings = json.dumps(result["warnings"])
    assert "was not delivered" in warnings and "secret-token" not in warnings


def test_a_non_http_url_and_a_payload_with_a_secret_are_warnings(run_module: ModuleRunner) -> None:
    result = run_module(copilotos_notify.main, url="file:///etc/passwd", event="after_verify", host="h")
    assert not result.get("failed") and not result["sent"]
    assert "must be http or https" in json.dumps(result["warnings"])
    leak = run_module(copilotos_notify.main, url=URL, event="after_verify", host="h",
                      facts={"result": "failed", "failure": "boom %s" % SECRET}, secrets=[SECRET])
    assert not leak.get("failed") and not leak["sent"] and "payload" not in leak
    warnings = json.dumps(leak["warnings"])
    assert "would contain a secret value at payload.text, " in warnings
    assert "payload.copilotos.failure; not sent" in warnings
    assert SECRET not in json.dumps(leak)
