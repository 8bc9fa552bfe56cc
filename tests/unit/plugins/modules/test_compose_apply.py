"""Module-level tests of library/compose_apply.py with a fake Compose CLI and Docker client.

The real thing is exercised in tests/integration/test_compose_modules.py; here
the point is the control flow: check mode never calls ``up``, errors are one
line, secrets never leave the module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import compose_apply
import pytest

from tests.unit.plugins.modules.conftest import invoke_module

H_OLD = "1" * 64
H_NEW = "2" * 64
SECRET = "Redis-Secret-4242"


class FakeContainer:
    def __init__(self, cid: str, started: str, env: dict[str, str], config_hash: str, health: str = "healthy") -> None:
        self.id = cid
        self.name = "proj-api-1"
        self.labels = {"com.docker.compose.config-hash": config_hash, "com.docker.compose.image": "sha256:img"}
        self.attrs = {
            "Created": started,
            "State": {"Status": "running", "StartedAt": started, "Health": {"Status": health, "Log": [
                {"Output": "wget: can't connect redis://:%s@redis" % SECRET}]}},
            "Config": {"Env": ["%s=%s" % kv for kv in env.items()], "Image": "busybox:1", "Labels": self.labels},
        }  # fmt: skip


class FakeImage:
    id = "sha256:img"
    attrs = {"Config": {"Env": ["PATH=/bin"]}}


class FakeClient:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.current = containers
        outer = self

        class Containers:
            def list(self, all: bool = True, filters: Any = None) -> list[FakeContainer]:
                return list(outer.current)

        class Images:
            def get(self, name: str) -> FakeImage:
                return FakeImage()

        self.containers = Containers()
        self.images = Images()


class FakeCompose:
    """Answers ``version``, ``config --format json``, ``config --hash`` and ``up``."""

    def __init__(self, env: dict[str, str], rendered_hash: str, client: FakeClient, after: FakeContainer | None,
                 up_rc: int = 0, config_rc: int = 0, config_err: str = "") -> None:  # fmt: skip
        self.env, self.rendered_hash, self.client, self.after = env, rendered_hash, client, after
        self.up_rc, self.config_rc, self.config_err = up_rc, config_rc, config_err
        self.calls: list[list[str]] = []

    def __call__(self, module: Any, args: list[str], **kwargs: Any) -> tuple[int, str, str]:
        self.calls.append(list(args))
        if "version" in args:
            return 0, "Docker Compose version v2.40.3", ""
        if "--hash" in args:
            return 0, "api %s\n" % self.rendered_hash, ""
        if "config" in args:
            if self.config_rc:
                return self.config_rc, "", self.config_err
            model = {"services": {"api": {"image": "busybox:1", "environment": self.env}}}
            return 0, json.dumps(model), ""
        if "up" in args:
            if self.after is not None:
                self.client.current = [self.after]
            return self.up_rc, "", "" if self.up_rc == 0 else "Error: up failed with %s\n" % SECRET
        raise AssertionError("unexpected compose call %r" % args)


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    def make(before: FakeContainer | None, env: dict[str, str], rendered_hash: str,
             after: FakeContainer | None = None, **kw: Any) -> FakeCompose:  # fmt: skip
        client = FakeClient([before] if before else [])
        fake = FakeCompose(env, rendered_hash, client, after, **kw)
        monkeypatch.setattr(compose_apply, "get_client", lambda host=None: client)
        monkeypatch.setattr(compose_apply.AnsibleModule, "run_command", lambda self, args, **kw: fake(self, args, **kw))
        monkeypatch.setattr(compose_apply.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/usr/bin/" + name)
        monkeypatch.setattr("ansible.module_utils.copilotos_compose.time.sleep", lambda s: None)
        return fake

    return make


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, check: bool = False, **args: Any) -> dict[str, Any]:
    params = {"project_dir": str(tmp_path), "project_name": "proj", "service": "api", **args}
    result, out = invoke_module(compose_apply.main, capsys, check, **params)
    assert SECRET not in out
    return result


ENV_OLD = {"GREETING": "hello", "REDIS_PASSWORD": SECRET}
ENV_NEW = {"GREETING": "bonjour", "REDIS_PASSWORD": SECRET}


def test_unchanged_is_not_changed(setup: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    before = FakeContainer("c1", "2025-01-01T00:00:00Z", {**ENV_OLD, "PATH": "/bin"}, H_OLD)
    fake = setup(before, ENV_OLD, H_OLD, after=before)
    result = run(capsys, tmp_path)
    assert result["changed"] is False and result["recreated"] is False
    assert result["started_at_before"] == result["started_at_after"] == "2025-01-01T00:00:00Z"
    assert result["drift_keys"] == [] and result["would_recreate"] is False
    up = [c for c in fake.calls if "up" in c]
    assert up and up[0][-4:] == ["up", "-d", "--no-deps", "api"]
    assert not any("restart" in c for c in fake.calls)


def test_check_mode_predicts_and_never_calls_up(setup: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    before = FakeContainer("c1", "2025-01-01T00:00:00Z", {**ENV_OLD, "PATH": "/bin"}, H_OLD)
    fake = setup(before, ENV_NEW, H_NEW)
    result = run(capsys, tmp_path, check=True)
    assert result["changed"] is True and result["would_recreate"] is True
    assert result["recreate_reasons"] == ["config_hash"]
    assert result["drift_keys"] == ["GREETING"]
    assert result["started_at_after"] == "2025-01-01T00:00:00Z"
    assert not any("up" in c or "--dry-run" in c for c in fake.calls)


def test_check_mode_missing_container_predicts_creation(
    setup: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake = setup(None, ENV_NEW, H_NEW)
    result = run(capsys, tmp_path, check=True)
    assert result["changed"] is True and result["recreate_reasons"] == ["container_missing"]
    assert result["container_id_before"] is None
    assert not any("up" in c for c in fake.calls)


def test_recreate_and_files(setup: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    before = FakeContainer("c1", "2025-01-01T00:00:00Z", {**ENV_OLD, "PATH": "/bin"}, H_OLD)
    after = FakeContainer("c2", "2025-01-02T00:00:00Z", {**ENV_NEW, "PATH": "/bin"}, H_NEW)
    fake = setup(before, ENV_NEW, H_NEW, after=after)
    result = run(capsys, tmp_path, files=["a.yml", "/abs/b.yml"], env_files=[".env.production"], recreate="always")
    assert result["changed"] is True and result["recreated"] is True
    assert result["container_id_after"] == "c2" and result["started_at_after"] == "2025-01-02T00:00:00Z"
    up = next(c for c in fake.calls if "up" in c)
    assert up[-2:] == ["--force-recreate", "api"]
    assert ["-f", str(tmp_path / "a.yml")] == up[up.index("-f") : up.index("-f") + 2]
    assert "/abs/b.yml" in up and str(tmp_path / ".env.production") in up


def test_unhealthy_after_up_fails_with_masked_output(
    setup: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    after = FakeContainer("c2", "2025-01-02T00:00:00Z", ENV_NEW, H_NEW, health="unhealthy")
    setup(None, ENV_NEW, H_NEW, after=after)
    result = run(capsys, tmp_path)
    assert result["failed"] is True and result["recreated"] is True
    assert "service api of Compose project proj is unhealthy" in result["msg"]
    assert "wget: can't connect redis://:********@redis" in result["msg"]
    assert result["last_health_output"].startswith("wget: can't connect")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"config_rc": 1, "config_err": "no such service: api\n"}, "service 'api' is not defined"),
        ({"config_rc": 15, "config_err": "yaml: line 2: mapping values are not allowed\nmore\n"},
         "docker compose config failed in"),
        ({"up_rc": 1}, "docker compose up api failed"),
    ],
)  # fmt: skip
def test_compose_errors_are_one_line(
    setup: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, kwargs: dict[str, Any], expected: str
) -> None:
    setup(None, ENV_NEW, H_NEW, **kwargs)
    result = run(capsys, tmp_path)
    assert result["failed"] is True and expected in result["msg"] and "\n" not in result["msg"]


def test_project_dir_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run(capsys, tmp_path / "nope")
    assert result["failed"] is True and "project_dir %s does not exist" % (tmp_path / "nope") in result["msg"]


def test_compose_binary_missing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = run(capsys, tmp_path, compose_command="no-such-binary-xyz compose")
    assert result["failed"] is True and "compose binary 'no-such-binary-xyz' not found" in result["msg"]


def test_documentation_mentions_restart() -> None:
    assert "never uses C(docker restart)" in compose_apply.DOCUMENTATION


def test_the_last_error_logged_is_the_cause_not_a_traceback_frame() -> None:
    lines = [
        '{"level": "info", "event": "starting"}',
        "Traceback (most recent call last):",
        '  File "/usr/lib/python3/dist-packages/pydantic/errors.py", line 12, in validate',
        "    raise ValidationError(errors)",
        "pydantic.ValidationError: db_max_idle_time_ms: 'oops' is not a valid integer (password %s)" % SECRET,
        "INFO:     shutting down",
    ]
    picked = compose_apply.pick_error_line(lines, [SECRET])
    assert picked.startswith("pydantic.ValidationError: db_max_idle_time_ms")
    assert SECRET not in picked
    assert compose_apply.pick_error_line(["all good", "  File \"errors.py\""], []) == ""
