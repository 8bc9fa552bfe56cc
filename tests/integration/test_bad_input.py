"""Bad-input matrix of issue 6: remediate.yml refuses bad input before it changes anything.

Each bad input is one inventory host with its own project directory; one
``remediate.yml`` run over all of them (one batch) fails every host in
preflight, and each test asserts, for its host, the failing task, a message
naming the variable (or the file and line) and that nothing was written: the
env file keeps its bytes, no backup, no override, no lock, and a missing
project directory is not created. These hosts need no running stack:
validation and the file checks stop them before any container is looked at.

Passwords using every printable ASCII character, and a 1 KiB one, must
round-trip instead: those run against real labs, whose Redis accepts the
password, and the api authenticates with REDIS_URL as it sees it.

Why the round-trip labs start with a plain password: the subject is the
remediation writing the exotic password (REDIS_PASSWORD quoted, REDIS_URL
percent-encoded), not the lab bringing Redis up with it. So each
lab starts with its generated password, the test adds the exotic one to the
Redis ``default`` user (``ACL SETUSER default >pw``, the old one stays valid
for the lab's own healthcheck), sets it as ``copilotos_redis_password`` (as
``!unsafe``, the way a vault value with ``{{`` must be written) and lets the
remediation write REDIS_PASSWORD and REDIS_URL.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
import yaml

from tests.helpers.lab import (
    LAB_GROUP_VARS,
    LabHost,
    Run,
    container_env,
    lab_down,
    make_inventory,
    run_playbook,
)
from tests.integration.conftest import container_ip, final_message, redis_client

pytestmark = [pytest.mark.lab, pytest.mark.slow]

FAKE_PASSWORD = "not-a-real-password-42"  # the bad-input hosts never reach a Redis

ENV_TEXT = """# copilotos - production environment (bad-input fixture, no real secret)
ENVIRONMENT=production
MONGODB_URL=mongodb://copilotos:fake@mongodb:27017/copilotos?authSource=admin
REDIS_URL=redis://:redis_password_change_me@redis:6379/0
REDIS_PASSWORD=not-a-real-password-42
CORS_ORIGINS=["http://localhost:3000"]
"""
UNPARSEABLE_LINE = 5
UNPARSEABLE = "\n".join(ENV_TEXT.splitlines()[:UNPARSEABLE_LINE - 1]) + "\nthis line is not an assignment\n" + \
    "\n".join(ENV_TEXT.splitlines()[UNPARSEABLE_LINE - 1:]) + "\n"

# Every input is checked on the controller by the plan action, before anything reaches the host;
# the files are checked by the one read of the live state, before anything is written.
PLAN = "plan | Validate the inputs and build the plan"
STATE = "state | Read the live state, judge it against the plan and take the run lock"
SPEC = "Validating arguments against arg spec 'validate' - Check the %s settings, on the controller, before the run " \
    "reaches the host"
NOTIFY_SPEC, METRICS_SPEC = SPEC % "notification", SPEC % "metrics"


@dataclass
class Case:
    host_vars: dict[str, Any]
    task: str
    says: list[str]
    env: str = "file"  # file | unparseable | directory | symlink | none (no project dir)


CASES: dict[str, Case] = {
    "missing_password": Case({"copilotos_redis_password": None}, PLAN,
                             ["copilotos_redis_password is not set", "vault"]),
    "empty_password": Case({"copilotos_redis_password": ""}, PLAN, ["copilotos_redis_password is empty"]),
    "password_list": Case({"copilotos_redis_password": ["pass", "word"]}, PLAN,
                          ["copilotos_redis_password must be a string, got a list"]),
    "password_number": Case({"copilotos_redis_password": 123}, PLAN,
                            ["copilotos_redis_password must be a string, got a int"]),
    "missing_compose_project": Case({"copilotos_compose_project": None}, PLAN,
                                    ["missing required arguments: copilotos_compose_project"]),
    "pool_not_int": Case({"copilotos_env_db_max_pool_size": "many"}, PLAN,
                         ["copilotos_env_db_max_pool_size", "int"]),
    # Whole seconds: the api's saptiva_timeout is an int and refuses "120.5".
    "timeout_not_number": Case({"copilotos_env_saptiva_timeout": "soon"}, PLAN,
                               ["copilotos_env_saptiva_timeout", "int"]),
    "origins_not_list": Case({"copilotos_env_cors_extra_origins": {"a": "https://x.example"}}, PLAN,
                             ["copilotos_env_cors_extra_origins", "list"]),
    "origin_without_scheme": Case({"copilotos_env_cors_extra_origins": ["copiloto.example.com"]}, PLAN,
                                  ['copilotos_env_cors_extra_origins: "copiloto.example.com" is not an https://host']),
    "origin_http": Case({"copilotos_env_cors_origins": ["http://copiloto.saptiva.com"]}, PLAN,
                        ['copilotos_env_cors_origins: "http://copiloto.saptiva.com" is not']),
    "origin_with_path": Case({"copilotos_env_cors_extra_origins": ["https://copiloto.example.com/app"]}, PLAN,
                             ['"https://copiloto.example.com/app"', "no path"]),
    "origin_trailing_slash": Case({"copilotos_env_cors_extra_origins": ["https://copiloto.example.com/"]}, PLAN,
                                  ['"https://copiloto.example.com/"', "no trailing slash"]),
    "connect_timeout_negative": Case({"copilotos_env_saptiva_connect_timeout": -5}, PLAN,
                                     ["copilotos_env_saptiva_connect_timeout=-5 must be > 0"]),
    "read_timeout_zero": Case({"copilotos_env_saptiva_read_timeout": 0}, PLAN,
                              ["copilotos_env_saptiva_read_timeout=0 must be > 0"]),
    "db_timeout_zero": Case({"copilotos_env_db_connect_timeout_ms": 0}, PLAN,
                            ["copilotos_env_db_connect_timeout_ms=0 must be > 0"]),
    "db_selection_timeout_negative": Case({"copilotos_env_db_server_selection_timeout_ms": -1}, PLAN,
                                          ["copilotos_env_db_server_selection_timeout_ms=-1 must be > 0"]),
    "connect_above_read": Case({"copilotos_env_saptiva_connect_timeout": 90, "copilotos_env_saptiva_read_timeout": 60},
                               PLAN, ["copilotos_env_saptiva_connect_timeout=90 must be below "
                                      "copilotos_env_saptiva_read_timeout=60"]),
    "read_above_total": Case({"copilotos_env_saptiva_read_timeout": 180}, PLAN,
                             ["copilotos_env_saptiva_read_timeout=180 must not exceed "
                              "copilotos_env_saptiva_timeout=120"]),
    "pool_min_above_max": Case({"copilotos_env_db_min_pool_size": 60, "copilotos_env_db_max_pool_size": 50}, PLAN,
                               ["copilotos_env_db_min_pool_size=60 is above copilotos_env_db_max_pool_size=50"]),
    # The settings read late (webhook, metrics textfile) are checked right after the plan, on the controller.
    "notify_timeout_not_int": Case({"copilotos_notify_url": "http://127.0.0.1:9/hook",
                                    "copilotos_notify_timeout": "soon"},
                                   NOTIFY_SPEC, ["copilotos_notify_timeout", "int"]),
    "metrics_in_audit_not_bool": Case({"copilotos_metrics_textfile_dir": "/tmp", "copilotos_metrics_in_audit": "maybe"},
                                      METRICS_SPEC, ["copilotos_metrics_in_audit", "not a valid boolean"]),
    "env_unparseable_line": Case({}, STATE, ["cannot parse {env}: line %d:" % UNPARSEABLE_LINE], env="unparseable"),
    "env_is_directory": Case({}, STATE, ["{env} must be a regular file (found: a directory)"], env="directory"),
    "env_is_symlink_outside": Case({}, STATE, ["{env} must be a regular file (found: a symlink to {outside})"],
                                   env="symlink"),
    "project_dir_missing": Case({}, STATE,
                                ["copilotos_project_dir {project} does not exist on project_dir_missing"], env="none"),
}


@dataclass
class BadRun:
    run: Run
    work: Path
    before: dict[str, bytes | None]


def project_files(project: Path) -> list[str]:
    return sorted(str(p.relative_to(project)) for p in project.rglob("*")) if project.exists() else []


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory: pytest.TempPathFactory) -> BadRun:
    work = tmp_path_factory.mktemp("badinput")
    outside = work / "outside" / ".env.production"
    outside.parent.mkdir()
    outside.write_text(ENV_TEXT)
    hosts: dict[str, dict[str, Any]] = {}
    before: dict[str, bytes | None] = {}
    for name, case in CASES.items():
        project = work / "projects" / name
        hv: dict[str, Any] = {"copilotos_project_dir": str(project), "copilotos_compose_project": "t-bad-" + name,
                              "copilotos_api_port": 1, "copilotos_redis_password": FAKE_PASSWORD}
        hv.update(case.host_vars)
        hosts[name] = {k: v for k, v in hv.items() if v is not None}
        if case.env == "none":
            before[name] = None
            continue
        project.mkdir(parents=True)
        env = project / ".env.production"
        if case.env == "directory":
            env.mkdir()
        elif case.env == "symlink":
            env.symlink_to(outside)
        else:
            env.write_text(UNPARSEABLE if case.env == "unparseable" else ENV_TEXT)
            env.chmod(0o600)
        before[name] = env.read_bytes() if env.is_file() else None
    inventory = work / "inventory"
    inventory.mkdir()
    (inventory / "group_vars" / "copilotos").mkdir(parents=True)
    group_vars = (LAB_GROUP_VARS / "copilotos" / "main.yml").read_text()
    (inventory / "group_vars" / "copilotos" / "main.yml").write_text(group_vars)
    (inventory / "hosts.yml").write_text("---\n" + yaml.safe_dump({"copilotos": {"hosts": hosts}}))
    run = run_playbook("remediate.yml", inventory, work,
                       extravars={"copilotos_serial": 0, "copilotos_report_dir": str(work / "reports")})
    return BadRun(run, work, before)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_fails_before_anything_changes(bad_run: BadRun, name: str) -> None:
    case = CASES[name]
    run = bad_run.run
    project = bad_run.work / "projects" / name
    env = project / ".env.production"
    assert run.rc == 2
    assert run.failed(name) == 1, run.stdout[-3000:]
    msg = final_message(run, name)
    assert msg.startswith(case.task + ": "), msg
    for text in case.says:
        assert text.format(env=env, project=project, outside=bad_run.work / "outside" / ".env.production") in msg, msg
    assert FAKE_PASSWORD not in run.stdout
    # Nothing changed: same env bytes; no backup, override or lock; only the run's own log line.
    if case.env == "none":
        assert not project.exists(), "the run created the missing project directory"
        return
    if bad_run.before[name] is not None:
        assert env.read_bytes() == bad_run.before[name]
    assert set(project_files(project)) <= {".env.production", ".copilotos-remediation.log"}, project_files(project)
    if case.env == "symlink":
        assert env.is_symlink() and (bad_run.work / "outside" / ".env.production").read_text() == ENV_TEXT


# --- passwords that must round-trip ---------------------------------------------------------------------------

PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))  # every printable ASCII character, space included
LONG = "".join(random.Random(6).choice(string.printable[:95]) for _ in range(1024))  # 1 KiB, seeded
assert len(PRINTABLE) == 95 and len(LONG) == 1024
PASSWORDS = {"pwascii": PRINTABLE, "pwlong": LONG, "pwdiag": PRINTABLE}
# The current api reads REDIS_URL as written (percent-encoded by the toolkit); the diagnosis generation
# builds its URL from REDIS_PASSWORD without encoding, so a reserved character breaks it whatever the
# toolkit writes: there the run must refuse before it changes anything.
GENERATION = {"pwascii": "current", "pwlong": "current", "pwdiag": "diagnosis"}
ROUND_TRIPS = ["pwascii", "pwlong"]


def unsafe_yaml(key: str, value: str) -> str:
    """A vault-style var file: the value verbatim (JSON escapes are YAML double-quoted escapes), never templated."""
    return "---\n%s: !unsafe %s\n" % (key, json.dumps(value))


@dataclass
class RoundTrip:
    inventory: Path
    work: Path
    hosts: dict[str, LabHost]
    remediate: Run
    audit: Run
    before: dict[str, tuple[bytes, dict[str, str]]]


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoundTrip]:
    work = tmp_path_factory.mktemp("pwroundtrip")
    inventory, hosts = make_inventory(work, list(PASSWORDS), extra_group_vars={
        "copilotos_report_dir": str(work / "reports"), "copilotos_verify_watch_seconds": 2}, generation=GENERATION)
    try:
        up = run_playbook("playbooks/lab.yml", inventory, work)
        assert up.rc == 0, up.stdout[-3000:]
        for host in hosts:
            generated = yaml.safe_load((inventory / "host_vars" / host.name / "lab_secrets.yml").read_text())
            client = redis_client(host, generated["copilotos_redis_password"])
            client.execute_command("ACL", "SETUSER", "default", ">" + PASSWORDS[host.name])
            # Loaded after lab_secrets.yml, so it wins: the vault now holds the exotic password.
            (inventory / "host_vars" / host.name / "vault.yml").write_text(
                unsafe_yaml("copilotos_redis_password", PASSWORDS[host.name]))
        before = {h.name: (h.env_file.read_bytes(), container_env(h.container("api"))) for h in hosts}
        remediate = run_playbook("remediate.yml", inventory, work, extravars={"copilotos_serial": 0})
        audit = run_playbook("remediate.yml", inventory, work, cmdline="--check --diff")
        yield RoundTrip(inventory, work, {h.name: h for h in hosts}, remediate, audit, before)
    finally:
        lab_down(inventory, work)


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_exotic_password_round_trips(round_trip: RoundTrip, name: str) -> None:
    password, host = PASSWORDS[name], round_trip.hosts[name]
    run = round_trip.remediate
    assert run.failed(name) == 0 and run.changed(name) > 0, final_message(run, name) or run.stdout[-3000:]
    env = container_env(host.container("api"))
    # Compose read REDIS_PASSWORD back from the file exactly as written.
    assert env["REDIS_PASSWORD"] == password, "REDIS_PASSWORD did not survive the env file"
    # REDIS_URL carries it percent-encoded, and decodes to it.
    url = env["REDIS_URL"]
    assert url == "redis://:%s@redis:6379/0" % quote(password, safe="")
    assert redis.connection.parse_url(url)["password"] == password
    # Redis authenticates with the URL exactly as the api has it (host swapped for the container address) ...
    client = redis.Redis.from_url(url.replace("@redis:", "@%s:" % container_ip(host.container("redis"))),
                                  socket_timeout=5)
    assert client.ping() is True
    # ... and the api itself does: Redis lists an authenticated connection from the api's address.
    api_address = container_ip(host.container("api"))
    assert any(str(c.get("addr", "")).rpartition(":")[0] == api_address for c in client.client_list()), \
        "no connection from the api in Redis's CLIENT LIST"
    # Read back as wanted: the audit right after has nothing left to change and no critical finding.
    audit = round_trip.audit
    assert audit.failed(name) == 0, final_message(audit, name)
    assert audit.changed(name) == 0
    for secret in (password, quote(password, safe="")):
        assert secret not in run.stdout and secret not in audit.stdout


def test_unencodable_password_is_refused_for_the_diagnosis_generation(round_trip: RoundTrip) -> None:
    name = "pwdiag"
    host, run = round_trip.hosts[name], round_trip.remediate
    assert run.failed(name) == 1
    msg = final_message(run, name)
    assert "REDIS_PASSWORD holds URL-reserved characters" in msg and "without percent-encoding" in msg, msg
    # Refused before any change: the env file's bytes and the running api's environment are the incident's.
    env_before, api_before = round_trip.before[name]
    assert host.env_file.read_bytes() == env_before
    assert container_env(host.container("api")) == api_before
    assert not (host.project_dir / ".copilotos-backups").exists()
    for secret in (PRINTABLE, quote(PRINTABLE, safe="")):
        assert secret not in run.stdout
