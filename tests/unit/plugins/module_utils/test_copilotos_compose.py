"""Unit tests of plugins/module_utils/copilotos_compose.py (no Docker needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ansible.module_utils.copilotos_common import MASK
from ansible.module_utils.copilotos_compose import (
    CONFIG_HASH_LABEL,
    IMAGE_LABEL,
    ComposeError,
    ComposeProject,
    base_args,
    config_args,
    env_drift,
    first_error_line,
    hash_args,
    parse_hash_output,
    predict,
    rendered_env,
    rendered_image,
    rendered_service,
    secret_values,
    split_command,
    unescape_dollars,
    up_args,
    wait_healthy,
)

H1 = "a" * 64
H2 = "b" * 64


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("docker compose", ["docker", "compose"]),
        ("/usr/bin/docker  compose", ["/usr/bin/docker", "compose"]),
        ("docker-compose", ["docker-compose"]),
        (["docker", "compose"], ["docker", "compose"]),
        ("'/opt/my docker/docker' compose", ["/opt/my docker/docker", "compose"]),
    ],
)
def test_split_command(given: Any, expected: list[str]) -> None:
    assert split_command(given) == expected


@pytest.mark.parametrize("given", ["", "   ", []])
def test_split_command_empty(given: Any) -> None:
    with pytest.raises(ComposeError):
        split_command(given)


@pytest.mark.parametrize(
    ("files", "env_files", "expected_tail"),
    [
        (None, None, []),
        (["/p/a.yml", "/p/b.yml"], None, ["-f", "/p/a.yml", "-f", "/p/b.yml"]),
        (None, ["/p/.env.production"], ["--env-file", "/p/.env.production"]),
        (["/p/a.yml"], ["/p/e1", "/p/e2"], ["--env-file", "/p/e1", "--env-file", "/p/e2", "-f", "/p/a.yml"]),
    ],
)
def test_base_args(files: list[str] | None, env_files: list[str] | None, expected_tail: list[str]) -> None:
    args = base_args(["docker", "compose"], "proj", "/p", files, env_files)
    assert args == ["docker", "compose", "-p", "proj", "--project-directory", "/p", *expected_tail]


@pytest.mark.parametrize(
    ("recreate", "expected"),
    [
        ("auto", ["B", "up", "-d", "--no-deps", "api"]),
        ("always", ["B", "up", "-d", "--no-deps", "--force-recreate", "api"]),
    ],
)
def test_up_args_never_restart_nor_dry_run(recreate: str, expected: list[str]) -> None:
    args = up_args(["B"], "api", recreate)
    assert args == expected
    assert "restart" not in args and "--dry-run" not in args


def test_read_only_args() -> None:
    assert config_args(["B"], "api") == ["B", "config", "--format", "json", "api"]
    assert hash_args(["docker", "compose"], "proj", "/p", "api") == [
        "docker", "compose", "-p", "proj", "--project-directory", "/p", "-f", "-", "config", "--hash", "api",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("api %s\n" % H1, H1),
        ("redis %s\napi %s\n" % (H2, H1), H1),
        ("api-2 %s\n" % H1, None),
        ("api notahash\n", None),
        ("", None),
    ],
)
def test_parse_hash_output(stdout: str, expected: str | None) -> None:
    assert parse_hash_output(stdout, "api") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("p$$ss", "p$ss"), ("$$$$", "$$"), ("plain", "plain"), (None, None), (3, 3)],
)
def test_unescape_dollars(value: Any, expected: Any) -> None:
    assert unescape_dollars(value) == expected


def test_rendered_env_and_image() -> None:
    svc = {"environment": {"A": "p$$ss", "B": None, "C": 5}}
    assert rendered_env(svc) == {"A": "p$ss", "B": None, "C": "5"}
    assert rendered_env({"environment": ["X=1", "Y=a=b"]}) == {"X": "1", "Y": "a=b"}
    assert rendered_env({}) == {}
    assert rendered_image({"image": "busybox:1"}, "proj", "api") == "busybox:1"
    assert rendered_image({}, "proj", "api") == "proj-api"


def test_rendered_service_unknown() -> None:
    with pytest.raises(ComposeError, match=r"'nope' is not defined.*api, redis"):
        rendered_service({"services": {"api": {}, "redis": {}}}, "nope")


@pytest.mark.parametrize(
    ("rendered", "container", "image_env", "expected"),
    [
        ({"A": "1"}, {"A": "1", "PATH": "/bin"}, {"PATH": "/bin"}, []),
        ({"A": "2"}, {"A": "1", "PATH": "/bin"}, {"PATH": "/bin"}, ["A"]),
        ({"A": "1", "NEW": "x"}, {"A": "1"}, {}, ["NEW"]),
        ({"A": "1"}, {"A": "1", "GONE": "x"}, {}, ["GONE"]),
        ({"A": None}, {}, {}, []),
        ({}, {"PATH": "/usr/bin"}, {"PATH": "/bin"}, ["PATH"]),
    ],
)
def test_env_drift_names_only(
    rendered: dict[str, str | None], container: dict[str, str], image_env: dict[str, str], expected: list[str]
) -> None:
    assert env_drift(rendered, container, image_env) == expected


def test_secret_values() -> None:
    env = {"REDIS_PASSWORD": "pw1", "REDIS_URL": "redis://:pw1@r", "GREETING": "hello", "API_KEY": "k123", "X": None}
    assert sorted(secret_values(env, ["extra"])) == sorted(["pw1", "redis://:pw1@r", "k123", "extra"])


@pytest.mark.parametrize(
    ("state", "labels", "rhash", "image_id", "drift", "recreate", "expected"),
    [
        (None, {}, H1, "sha256:i", [], "auto", (True, ["container_missing"])),
        ({"status": "running"}, {CONFIG_HASH_LABEL: H1, IMAGE_LABEL: "sha256:i"}, H1, "sha256:i", [], "auto",
         (False, [])),
        ({"status": "running"}, {CONFIG_HASH_LABEL: H1, IMAGE_LABEL: "sha256:i"}, H2, "sha256:i", ["A"], "auto",
         (True, ["config_hash"])),
        ({"status": "running"}, {CONFIG_HASH_LABEL: H1, IMAGE_LABEL: "sha256:i"}, H1, "sha256:j", [], "auto",
         (True, ["image"])),
        ({"status": "running"}, {CONFIG_HASH_LABEL: H1, IMAGE_LABEL: "sha256:i"}, H1, "sha256:i", [], "always",
         (True, ["forced"])),
        ({"status": "exited"}, {CONFIG_HASH_LABEL: H1, IMAGE_LABEL: "sha256:i"}, H1, "sha256:i", [], "auto",
         (True, ["not_running"])),
        ({"status": "running"}, {CONFIG_HASH_LABEL: H1}, None, "sha256:i", ["A"], "auto", (True, ["environment"])),
        ({"status": "running"}, {CONFIG_HASH_LABEL: H1}, None, "sha256:i", [], "auto", (False, [])),
        ({"status": "running"}, {CONFIG_HASH_LABEL: H1}, H1, None, [], "auto", (True, ["image_missing"])),
    ],
)  # fmt: skip
def test_predict(
    state: dict[str, Any] | None,
    labels: dict[str, str],
    rhash: str | None,
    image_id: str | None,
    drift: list[str],
    recreate: str,
    expected: tuple[bool, list[str]],
) -> None:
    assert predict(state, labels, rhash, image_id, drift, recreate) == expected


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ("", "(no output)"),
        ("no such service: nope\n", "no such service: nope"),
        ('time="x" level=warning msg="The \\"X\\" variable is not set"\nyaml: line 3: bad\n', "yaml: line 3: bad"),
        ('time="x" level=warning msg="only warnings"\n', 'time="x" level=warning msg="only warnings"'),
    ],
)
def test_first_error_line(stderr: str, expected: str) -> None:
    assert first_error_line(stderr) == expected


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def states(*items: dict[str, Any] | None) -> Any:
    queue = list(items)

    def fetch() -> dict[str, Any] | None:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return fetch


@pytest.mark.parametrize(
    ("sequence", "expected_health"),
    [
        ([{"status": "running", "health": "starting"}, {"status": "running", "health": "healthy"}], "healthy"),
        ([None, {"status": "created", "health": "none"}, {"status": "running", "health": "none"}], "none"),
    ],
)
def test_wait_healthy_ok(sequence: list[dict[str, Any] | None], expected_health: str) -> None:
    fake = FakeClock()
    state = wait_healthy(states(*sequence), 10, clock=fake.clock, sleep=fake.sleep)
    assert state["health"] == expected_health


@pytest.mark.parametrize(
    ("sequence", "match"),
    [
        ([{"status": "running", "health": "starting"}, {"status": "running", "health": "unhealthy"}], "unhealthy"),
        ([{"status": "exited", "health": "none"}], "has exited"),
        ([{"status": "running", "health": "starting"}], "within 5s"),
        ([None], "within 5s"),
    ],
)
def test_wait_healthy_fails(sequence: list[dict[str, Any] | None], match: str) -> None:
    fake = FakeClock()
    with pytest.raises(ComposeError, match=match) as info:
        wait_healthy(states(*sequence), 5, clock=fake.clock, sleep=fake.sleep)
    assert fake.now <= 6
    assert info.value.state == sequence[-1]  # type: ignore[attr-defined]


class FakeRunner:
    def __init__(self, replies: list[tuple[int, str, str]]) -> None:
        self.replies = replies
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, args: list[str], **kwargs: Any) -> tuple[int, str, str]:
        self.calls.append((args, kwargs))
        return self.replies.pop(0)


def project(runner: FakeRunner, secrets: list[str] | None = None) -> ComposeProject:
    return ComposeProject(runner, ["docker", "compose"], "proj", "/p", ["/p/c.yml"], None, {"DOCKER_HOST": "x"},
                          secrets=secrets)  # fmt: skip


def test_render_and_hash_calls() -> None:
    model = {"services": {"api": {"image": "i", "environment": {"A": "$$x"}}}}
    runner = FakeRunner([(0, json.dumps(model), ""), (0, "api %s\n" % H1, "")])
    proj = project(runner)
    got, raw = proj.render("api")
    assert got == model
    assert proj.rendered_hash(raw, "api") == H1
    (render_args, render_kw), (hash_call, hash_kw) = runner.calls
    assert render_args[-4:] == ["config", "--format", "json", "api"]
    assert "up" not in render_args and "up" not in hash_call
    assert hash_kw["data"] == raw and hash_kw["binary_data"] is True
    assert render_kw["environ_update"] == {"DOCKER_HOST": "x"}
    assert render_kw["expand_user_and_vars"] is False


def test_render_errors_are_one_line_and_masked() -> None:
    runner = FakeRunner([(1, "", "no such service: nope\n")])
    with pytest.raises(ComposeError, match="service 'nope' is not defined in Compose project 'proj'"):
        project(runner).render("nope")
    stderr = "yaml: invalid value redis://:hunter2@redis and s3cret-token\nmore\n"
    runner = FakeRunner([(15, "", stderr)])
    with pytest.raises(ComposeError) as info:
        project(runner, secrets=["s3cret-token"]).render("api")
    text = str(info.value)
    assert "hunter2" not in text and "s3cret-token" not in text and MASK in text and "\n" not in text
    assert text.startswith("docker compose config failed in /p: yaml: invalid value")


def test_hash_unknown_on_failure() -> None:
    assert project(FakeRunner([(1, "", "boom")])).rendered_hash("{}", "api") is None


def test_up_failure_masked() -> None:
    runner = FakeRunner([(1, "", "Error response from daemon: pw=topsecret1 failed\n")])
    with pytest.raises(ComposeError) as info:
        project(runner, secrets=["topsecret1"]).up("api", "always")
    assert "topsecret1" not in str(info.value)
    assert runner.calls[0][0][-3:] == ["--no-deps", "--force-recreate", "api"]
