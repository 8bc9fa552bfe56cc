"""copilotos_notify: the webhook payload (fields, Slack-compatible text, names only, the secret guard)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from ansible.module_utils.copilotos_common import secret_paths
from ansible.module_utils.copilotos_notify import (
    NotifyError,
    build_payload,
    guarded_payload,
    key_names,
)

SECRET = "Sup3r$ecret:pw@x"
KEYS = ["REDIS_URL", "REDIS_PASSWORD", "CORS_ORIGINS", "CELERY_BROKER_URL"]


def before_facts(**extra: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {"keys": KEYS, "expected_downtime_s": 10, "max_downtime_s": 120,
                             "project": "copilotos-lab1", "project_dir": "/srv/copilotos", "user": "ops",
                             "run_id": "20261129T060000Z"}
    facts.update(extra)
    return facts


def after_facts(**extra: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {"keys": KEYS, "result": "remediated", "rolled_back": False, "recreated": True,
                             "report": "/repo/reports/20261129T060000Z/lab1.md", "failure": None,
                             "project": "copilotos-lab1"}
    facts.update(extra)
    return facts


def test_before_payload_fields_and_slack_text() -> None:
    payload = build_payload("before_recreate", "lab1", before_facts())
    assert set(payload) == {"text", "attachments", "copilotos"}
    text = payload["text"]
    assert isinstance(text, str) and text.startswith("copilotos maintenance on lab1 (copilotos-lab1)")
    assert "CELERY_BROKER_URL, CORS_ORIGINS, REDIS_PASSWORD, REDIS_URL" in text
    assert "about 10 s" in text and "120 s" in text
    data = payload["copilotos"]
    assert data["event"] == "before_recreate" and data["schema_version"] == 1
    assert data["host"] == "lab1" and data["keys"] == sorted(KEYS)
    assert data["expected_downtime_s"] == 10 and data["max_downtime_s"] == 120
    attachment = payload["attachments"][0]
    assert attachment["fallback"] == text
    assert {f["title"] for f in attachment["fields"]} == {"Host", "Keys to change", "Expected downtime",
                                                          "Rollback after"}
    assert all(set(f) == {"title", "value", "short"} and isinstance(f["value"], str) for f in attachment["fields"])
    json.dumps(payload)  # serialisable as is


@pytest.mark.parametrize(("result", "rolled_back", "color"), [
    ("remediated", False, "good"),
    ("rolled_back", True, "warning"),
    ("failed", False, "danger"),
])
def test_after_payload_result_rollback_and_report(result: str, rolled_back: bool, color: str) -> None:
    payload = build_payload("after_verify", "lab1", after_facts(result=result, rolled_back=rolled_back))
    data = payload["copilotos"]
    assert data["event"] == "after_verify" and data["result"] == result
    assert data["rolled_back"] is rolled_back
    assert data["report"] == "/repo/reports/20261129T060000Z/lab1.md"
    assert payload["attachments"][0]["color"] == color
    assert result.replace("_", " ") in payload["text"] and data["report"] in payload["text"]
    assert ("backup was restored" in payload["text"]) is rolled_back


def test_a_rolled_back_result_is_a_rollback_even_without_the_flag() -> None:
    assert build_payload("after_verify", "h", after_facts(result="rolled_back"))["copilotos"]["rolled_back"] is True


def test_the_failure_line_has_url_passwords_masked() -> None:
    payload = build_payload("after_verify", "h", after_facts(result="failed",
                                                             failure="verify: redis://:hunter2x@redis:6379/0 refused"))
    assert "hunter2x" not in json.dumps(payload)
    assert "redis://:********@redis:6379/0" in payload["copilotos"]["failure"]


def test_only_key_names_never_values() -> None:
    assert key_names(["B", "A", "A"]) == ["A", "B"]
    for bad in (["REDIS_PASSWORD=%s" % SECRET], ["redis://:x@redis"], ["two words"]):
        with pytest.raises(NotifyError, match="must be env key names"):
            key_names(bad)


def test_no_secret_value_even_when_a_changed_key_is_a_secret() -> None:
    # REDIS_PASSWORD and REDIS_URL are secret keys: their names are sent, their values never.
    for event, facts in (("before_recreate", before_facts()), ("after_verify", after_facts())):
        payload = guarded_payload(event, "lab1", facts, [SECRET])
        body = json.dumps(payload)
        assert "REDIS_PASSWORD" in body
        assert SECRET not in body and quote(SECRET, safe="") not in body


@pytest.mark.parametrize("form", [SECRET, quote(SECRET, safe="")])
def test_a_payload_holding_a_secret_is_refused_naming_the_place(form: str) -> None:
    with pytest.raises(NotifyError) as caught:
        guarded_payload("after_verify", "lab1", after_facts(result="failed", failure="boom %s" % form), [SECRET])
    message = str(caught.value)
    assert "payload.copilotos.failure" in message and "not sent" in message
    assert SECRET not in message and form not in message


def test_secret_paths_walks_keys_lists_and_values() -> None:
    tree = {"a": ["x", "y%s" % SECRET], SECRET: 1, "n": 5}
    assert secret_paths(tree, [SECRET], "payload") == ["payload.a[1]", "payload (a key)"]
    assert secret_paths(tree, []) == [] and secret_paths(tree, ["ab"]) == []


def test_unknown_event_is_refused() -> None:
    with pytest.raises(NotifyError, match="event must be one of"):
        build_payload("whenever", "h", {})
