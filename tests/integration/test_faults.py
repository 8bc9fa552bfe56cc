"""Fault matrix of issue 6: remediate.yml against a real lab that is broken underneath it.

Four lab hosts (``fa`` .. ``fd``), each its own Compose project, are shared by
every test of this module. Faults are injected in rounds, one fault per host,
and each round is one ``remediate.yml`` run over the four hosts in one batch
(``copilotos_serial: 0``), so a round costs about one remediation:

=========  ===========================  =======================  ==========================  ===========================
round      fa                           fb                       fc                          fd
=========  ===========================  =======================  ==========================  ===========================
enforce 1  redis stopped                mongodb stopped          api fails its healthcheck   error signature in the logs
enforce 2  filesystem full              filesystem read-only     redis password changed      api container removed
audit      redis stopped                mongodb stopped          redis password changed      mongo wrong credentials
kill -9    during the env write         after write, pre-apply   during verification         (two runs at once)
=========  ===========================  =======================  ==========================  ===========================

Every row asserts the run outcome (rc, per-host failures), that the message
names the cause, and that ``.env.production`` is byte-identical to either the
old (incident) or the new (remediated) version, never a mix. Docker engine
unreachable and a Compose project without containers are cheap single runs
that fail in preflight.

Outcomes, as the roles implement them:

- A fault found after the write (apply or verification) ends in the rescue:
  the backup is restored, the api recreated on the old configuration and
  checked healthy, and the host fails with ``<task>: <cause> - rolled back to
  <backup dir>``.
- A fault found in preflight fails the host before the backup: nothing is
  written (the remediation log on the host records the run, by design).
- A concurrent run fails fast (it does not wait), naming the lock holder.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lab import (
    LabHost,
    Run,
    container_env,
    docker_inspect,
    lab_down,
    lab_secrets,
    make_inventory,
    read_env_file,
    run_playbook,
)
from tests.integration.conftest import (
    INCIDENT_CONTAINER_REDIS_URL,
    HostState,
    clear_host_vars,
    compose,
    docker,
    ensure_incident,
    final_message,
    finding_codes,
    health,
    read_bytes,
    recreate_api,
    redis_client,
    report,
    run_with_events,
    set_host_vars,
    small_filesystem,
    snapshot,
    start_playbook,
    wait_healthy,
    wait_until,
    write_env,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAMES = ["fa", "fb", "fc", "fd"]
# One batch: each round is one run over the four hosts (a play keyword, so an extra var).
ONE_BATCH = {"copilotos_serial": 0}
LOCK = ".copilotos-remediation.lock"
# Not a secret: the password Redis is switched to behind the remediation's back.
ROTATED_REDIS_PASSWORD = "rotated-behind-our-back-7Q"


@dataclass
class Labs:
    inventory: Path
    work: Path
    hosts: dict[str, LabHost]
    incident: dict[str, bytes]
    remediated: dict[str, bytes] = field(default_factory=dict)

    @property
    def reports(self) -> Path:
        return self.work / "reports"

    def secrets(self, name: str) -> dict[str, str]:
        return lab_secrets(self.inventory, name)

    def is_old_or_new(self, name: str, data: bytes | None) -> bool:
        return data in (self.incident[name], self.remediated.get(name))


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labs]:
    work = tmp_path_factory.mktemp("faults")
    inventory, hosts = make_inventory(work, NAMES, extra_group_vars={
        "copilotos_report_dir": str(work / "reports"),
        "copilotos_verify_watch_seconds": 2,
    })
    try:
        up = run_playbook("playbooks/lab.yml", inventory, work)
        assert up.rc == 0, up.stdout[-3000:]
        by_name = {h.name: h for h in hosts}
        yield Labs(inventory, work, by_name, {h.name: h.env_file.read_bytes() for h in hosts})
    finally:
        for host in hosts:
            subprocess.run(["umount", "--lazy", str(host.project_dir)], capture_output=True, check=False)
        lab_down(inventory, work)


def all_healthy(labs: Labs) -> None:
    """Start a round on a settled lab: every container of every host healthy (a loaded machine lags)."""
    wait_healthy(*(host.container(s) for host in labs.hosts.values() for s in ("api", "web", "mongodb", "redis")))


def assert_rolled_back(labs: Labs, run: Run, name: str, before: HostState, cause: str) -> str:
    """The host failed after the rescue restored the old file and recreated the api on it."""
    host = labs.hosts[name]
    msg = final_message(run, name)
    assert run.failed(name) == 1, msg
    assert cause in msg, msg
    assert " - rolled back to " in msg, msg
    after = snapshot(host)
    assert after.env == before.env == labs.incident[name], (before.env_digest, after.env_digest)
    assert after.override is None
    assert len(after.backups) == len(before.backups) + 1
    backup = host.project_dir / ".copilotos-backups" / after.backups[-1]
    assert (backup / ".env.production").read_bytes() == before.env
    assert after.api_id != before.api_id, "the rollback recreates the api"
    assert health(host.container("api")) == "healthy"
    env = container_env(host.container("api"))
    assert env["REDIS_URL"] == INCIDENT_CONTAINER_REDIS_URL and env["DB_MAX_POOL_SIZE"] == "100", "old config"
    return msg


def assert_untouched(host: LabHost, before: HostState) -> None:
    after = snapshot(host)
    assert after.env == before.env, (before.env_digest, after.env_digest)
    assert after.override == before.override
    assert after.backups == before.backups
    assert (after.api_id, after.api_started) == (before.api_id, before.api_started)
    assert not (host.project_dir / LOCK).exists()


# --- preflight faults: nothing written ------------------------------------------------------------------------


def test_docker_engine_unreachable_fails_in_preflight(labs: Labs) -> None:
    host = labs.hosts["fa"]
    before = snapshot(host)
    run = run_playbook("remediate.yml", labs.inventory, labs.work, cmdline="--limit fa",
                       envvars={"DOCKER_HOST": "unix:///nonexistent.sock"})
    msg = final_message(run, "fa")
    assert run.rc == 2 and run.failed("fa") == 1, run.stdout[-3000:]
    assert msg.startswith("state | Read the live state, judge it against the plan and take the run lock: "), msg
    assert "Docker engine unreachable" in msg and "rolled back" not in msg, msg
    assert_untouched(host, before)


def test_compose_project_without_containers_fails_in_preflight(tmp_path: Path, labs: Labs) -> None:
    inventory, (ghost,) = make_inventory(tmp_path, ["ghost"], extra_group_vars={
        "copilotos_redis_password": "not-a-real-one-1",  # never reaches anything: preflight stops first
        "copilotos_report_dir": str(tmp_path / "reports")})
    ghost.project_dir.mkdir(parents=True)
    for name in ("docker-compose.yml", ".env.production"):
        (ghost.project_dir / name).write_bytes((labs.hosts["fa"].project_dir / name).read_bytes())
    before = snapshot(ghost)
    run = run_playbook("remediate.yml", inventory, tmp_path)
    msg = final_message(run, "ghost")
    assert run.rc == 2 and run.failed("ghost") == 1, run.stdout[-3000:]
    assert "Compose project %s has no api container" % ghost.project in msg, msg
    assert_untouched(ghost, before)


# --- enforce round 1: redis stopped, mongodb stopped, api unhealthy, error signature -----------------------------


@dataclass
class Round:
    run: Run
    before: dict[str, HostState]
    extra: dict[str, Any] = field(default_factory=dict)


PROVE_TASK = "prove | Prove the live system by effect"
# The point probes of the one verification pass (Redis AUTH and CLIENT LIST, Mongo, health, CORS,
# the burst) take a few seconds; the fault comes after them, inside the log watch window.
INJECT_AFTER_S = 8.0


def signature_injector(labs: Labs, name: str, extra: dict[str, Any]) -> Any:
    """When the verification task starts, wait out its point probes, then pause the host's redis until
    the api logs the signature.

    The api's Redis clients ping every few seconds; a paused Redis makes the
    ping time out, and the api logs "Redis cache connection failed" while it
    keeps serving: a transient fault only the watch window can see.
    """
    host = labs.hosts[name]
    done = threading.Event()

    def inject() -> None:
        time.sleep(INJECT_AFTER_S)
        since = time.time()
        docker("pause", host.container("redis"))
        try:
            def logged() -> bool:
                out = subprocess.run(["docker", "logs", "--since", "%.3f" % since, host.container("api")],
                                     capture_output=True, text=True, check=False)
                return "Redis cache connection failed" in out.stdout + out.stderr
            wait_until(logged, 60, "the api to log the Redis failure", interval=0.5)
            extra["signature_logged"] = True
        finally:
            docker("unpause", host.container("redis"))
            done.set()

    def on_event(event: dict[str, Any]) -> None:
        task = (event.get("event_data") or {}).get("task") or ""
        if event.get("event") == "playbook_on_task_start" and PROVE_TASK in task and "thread" not in extra:
            extra["thread"] = threading.Thread(target=inject, daemon=True)
            extra["thread"].start()

    extra["done"] = done
    return on_event


@pytest.fixture(scope="module")
def enforce_round1(labs: Labs) -> Round:
    fa, fb = labs.hosts["fa"], labs.hosts["fb"]
    for name, host in labs.hosts.items():
        ensure_incident(host, labs.incident[name])
    all_healthy(labs)
    set_host_vars(labs.inventory, "fb", "fault", {
        # With mongodb down the api's health endpoint waits out the Mongo server selection, longer than
        # its healthcheck allows: it never becomes healthy, on the old configuration or the new one.
        "copilotos_apply_wait_timeout": 30,
        "copilotos_rollback_wait_timeout": 30,
    })
    set_host_vars(labs.inventory, "fc", "fault", {
        # A value the api's settings would refuse (DB_MAX_IDLE_TIME_MS=oops) is refused by the toolkit
        # before any change; a variable outside the app's settings that breaks the runtime is not:
        # Python cannot start without its standard library, and the recreated api crash-loops.
        "copilotos_env_extra_values": {"PYTHONHOME": "/nonexistent"},
        "copilotos_apply_wait_timeout": 30,
    })
    set_host_vars(labs.inventory, "fd", "fault", {"copilotos_verify_watch_seconds": 30})
    compose(fa, "stop", "redis")
    compose(fb, "stop", "mongodb")
    # Mongo has been down for a while: the api already reports it (unhealthy) before the run.
    wait_until(lambda: health(fb.container("api")) == "unhealthy", 120, "the api to notice mongodb is down")
    before = {name: snapshot(host) for name, host in labs.hosts.items()}
    extra: dict[str, Any] = {"fb_health_before": health(fb.container("api"))}
    try:
        run = run_with_events("remediate.yml", labs.inventory, labs.work, extravars=ONE_BATCH,
                              on_event=signature_injector(labs, "fd", extra))
        if "thread" in extra:
            extra["thread"].join(timeout=90)
        extra["fb_health_after"] = health(fb.container("api"))
    finally:
        compose(fa, "start", "redis")
        compose(fb, "start", "mongodb")
        for name in ("fb", "fc", "fd"):
            clear_host_vars(labs.inventory, name, "fault")
    # Back to normal without anyone's help once the stores are up again.
    wait_healthy(*(host.container(s) for host in labs.hosts.values() for s in ("redis", "mongodb", "api")))
    assert run.rc == 2, run.stdout[-4000:]
    return Round(run, before, extra)


def test_redis_stopped_enforce_fails_after_rollback(labs: Labs, enforce_round1: Round) -> None:
    msg = assert_rolled_back(labs, enforce_round1.run, "fa", enforce_round1.before["fa"], "verification failed on fa")
    assert "REDIS_UNREACHABLE" in msg and "redis_auth" in msg, msg


def test_mongo_stopped_enforce_fails_after_rollback(labs: Labs, enforce_round1: Round) -> None:
    """The recreated api cannot become healthy without Mongo; the rollback brings back the old one.

    It was unhealthy before the run (its health endpoint waits on Mongo), so
    unhealthy on the old configuration is its pre-run state: the rollback
    succeeds and the host fails naming the cause from the api's own log.
    """
    msg = assert_rolled_back(labs, enforce_round1.run, "fb", enforce_round1.before["fb"],
                             "recreate | Bring the api to its configured state: compose_apply:")
    assert "last error logged:" in msg and "mongodb:27017" in msg.split("last error logged:")[1], msg
    assert enforce_round1.extra["fb_health_before"] == "unhealthy"
    assert enforce_round1.extra["fb_health_after"] in ("unhealthy", "starting")


def test_api_failing_its_healthcheck_is_rolled_back(labs: Labs, enforce_round1: Round) -> None:
    msg = assert_rolled_back(labs, enforce_round1.run, "fc", enforce_round1.before["fc"],
                             "recreate | Bring the api to its configured state")
    # Depending on when compose_apply polls the crash-looping container: still
    # starting until the timeout, or already marked unhealthy or exited.
    assert re.search(r"did not become healthy within 30s|(is unhealthy|has exited) after up \(status", msg), msg
    # The cause, from the crash-looping api's own log.
    assert "last error logged:" in msg and "encodings" in msg.split("last error logged:")[1], msg
    assert report(labs.reports, "fc")["result"] == "rolled_back"


def test_error_signature_in_the_watch_window_is_rolled_back(labs: Labs, enforce_round1: Round) -> None:
    assert enforce_round1.extra.get("signature_logged"), "the fault was not injected"
    msg = assert_rolled_back(labs, enforce_round1.run, "fd", enforce_round1.before["fd"], "verification failed on fd")
    assert "LOG_SIGNATURE_REDIS_CONNECTION_FAILED" in msg, msg
    failed = re.search(r"verification failed on fd: ([a-z_, ]+) \(", msg)
    assert failed and "logs" in failed.group(1).split(", "), msg
    # The api had passed the point checks: Redis auth, Mongo and health were fine.
    assert not {"redis_auth", "mongo_ping", "health"} & set(failed.group(1).split(", ")), msg


# --- enforce round 2: disk full, read-only, redis password rotated, api container gone ---------------------------


def redirect_state_files(labs: Labs, name: str) -> dict[str, str]:
    """Lock, backups and remediation log off the project filesystem (its own small volume in this row)."""
    base = labs.work / "state" / name
    base.mkdir(parents=True, exist_ok=True)
    return {"copilotos_env_lock_file": str(base / "remediation.lock"),
            "copilotos_env_backup_root": str(base / "backups"),
            "copilotos_env_log_file": str(base / "remediation.log")}


@pytest.fixture(scope="module")
def enforce_round2(labs: Labs) -> Iterator[Round]:
    fa, fb, fc, fd = (labs.hosts[n] for n in NAMES)
    for name, host in labs.hosts.items():
        ensure_incident(host, labs.incident[name])
    all_healthy(labs)
    for name in ("fa", "fb"):
        set_host_vars(labs.inventory, name, "fault", redirect_state_files(labs, name))
    before = {name: snapshot(host) for name, host in labs.hosts.items()}
    extra: dict[str, Any] = {}
    real_password = labs.secrets("fc")["copilotos_redis_password"]
    redis_client(fc, real_password).config_set("requirepass", ROTATED_REDIS_PASSWORD)
    docker("rm", "--force", fd.container("api"))
    try:
        with small_filesystem(fa.project_dir) as full, small_filesystem(fb.project_dir, read_only=True) as ro:
            run = run_playbook("remediate.yml", labs.inventory, labs.work, extravars=ONE_BATCH)
            # Read while mounted: the file the api would be recreated from.
            extra["env_on_full"] = read_bytes(full / ".env.production")
            extra["env_on_ro"] = read_bytes(ro / ".env.production")
            extra["tmp_files"] = sorted(p.name for p in full.iterdir() if p.name.endswith(".tmp"))
    finally:
        redis_client(fc, ROTATED_REDIS_PASSWORD).config_set("requirepass", real_password)
        compose(fd, "up", "--detach", "--no-deps", "--wait", "--wait-timeout", "180", "api")
        for name in ("fa", "fb"):
            clear_host_vars(labs.inventory, name, "fault")
    assert run.rc == 2, run.stdout[-4000:]
    yield Round(run, before, extra)


@pytest.mark.parametrize(("name", "kind", "errno_text"), [
    ("fa", "env_on_full", "No space left on device"),
    ("fb", "env_on_ro", "Read-only file system"),
])
def test_disk_write_failure_keeps_the_original(labs: Labs, enforce_round2: Round, name: str, kind: str,
                                               errno_text: str) -> None:
    host, before = labs.hosts[name], enforce_round2.before[name]
    msg = final_message(enforce_round2.run, name)
    assert enforce_round2.run.failed(name) == 1, msg
    assert msg.startswith("apply | Write the managed keys of the env file: cannot write %s: %s" % (
        host.env_file, errno_text)), msg
    assert enforce_round2.extra[kind] == labs.incident[name], "the env file on the full/read-only volume changed"
    assert host.env_file.read_bytes() == labs.incident[name]
    assert enforce_round2.extra["tmp_files"] == [], "a temporary file was left behind"
    # The backup was taken (off the volume) before the write failed; nothing to undo, the api kept running.
    backups = sorted(p for p in (labs.work / "state" / name / "backups").iterdir() if p.is_dir())
    assert backups and (backups[-1] / ".env.production").read_bytes() == labs.incident[name]
    after = docker_inspect(host.container("api"))
    assert (after["Id"], after["State"]["StartedAt"]) == (before.api_id, before.api_started)


def test_redis_password_changed_behind_our_back_is_an_auth_failure(labs: Labs, enforce_round2: Round) -> None:
    msg = assert_rolled_back(labs, enforce_round2.run, "fc", enforce_round2.before["fc"], "verification failed on fc")
    assert "REDIS_AUTH_FAILED" in msg and "redis_auth" in msg, msg


def test_api_container_missing_fails_in_preflight(labs: Labs, enforce_round2: Round) -> None:
    host, before = labs.hosts["fd"], enforce_round2.before["fd"]
    msg = final_message(enforce_round2.run, "fd")
    assert enforce_round2.run.failed("fd") == 1, msg
    assert "Compose project %s has no api container on fd" % host.project in msg, msg
    assert "rolled back" not in msg
    after = snapshot(host)
    assert after.env == before.env == labs.incident["fd"]
    assert after.override is None and after.backups == before.backups


# --- a clean remediation, then the audit round on the fixed labs ------------------------------------------------


@pytest.fixture(scope="module")
def remediated(labs: Labs) -> Run:
    for name, host in labs.hosts.items():
        ensure_incident(host, labs.incident[name])
    all_healthy(labs)
    run = run_playbook("remediate.yml", labs.inventory, labs.work, extravars=ONE_BATCH)
    assert run.rc == 0, run.stdout[-4000:]
    for name, host in labs.hosts.items():
        labs.remediated[name] = host.env_file.read_bytes()
    return run


def test_remediation_succeeds_once_the_faults_are_gone(labs: Labs, remediated: Run) -> None:
    for name, host in labs.hosts.items():
        assert remediated.failed(name) == 0 and remediated.changed(name) > 0
        values = read_env_file(host.env_file)
        assert values["DB_MAX_POOL_SIZE"] == "50" and "copiloto.saptiva.com" in values["CORS_ORIGINS"]
        assert container_env(host.container("api"))["REDIS_URL"].endswith("@redis:6379/0")
        assert labs.remediated[name] != labs.incident[name]


@pytest.fixture(scope="module")
def audit_round(labs: Labs, remediated: Run) -> Iterator[Round]:
    fa, fb, fc, fd = (labs.hosts[n] for n in NAMES)
    real_password = labs.secrets("fc")["copilotos_redis_password"]
    # Mongo wrong credentials: MONGODB_URL is not the remediation's; an operator typo in it.
    good = labs.remediated["fd"]
    lines = good.decode().splitlines(keepends=True)
    bad = "".join(re.sub(r"^(MONGODB_URL=mongodb://[^:]+:)[^@]+@", r"\1wrong-password-0@", line) for line in lines)
    assert bad.encode() != good
    write_env(fd, bad.encode())
    recreate_api(fd)
    before = {name: snapshot(host) for name, host in labs.hosts.items()}
    compose(fa, "stop", "redis")
    compose(fb, "stop", "mongodb")
    redis_client(fc, real_password).config_set("requirepass", ROTATED_REDIS_PASSWORD)
    try:
        run = run_playbook("remediate.yml", labs.inventory, labs.work, cmdline="--check --diff")
    finally:
        compose(fa, "start", "redis")
        compose(fb, "start", "mongodb")
        redis_client(fc, ROTATED_REDIS_PASSWORD).config_set("requirepass", real_password)
    after = {name: snapshot(host) for name, host in labs.hosts.items()}
    write_env(fd, good)
    recreate_api(fd)
    wait_healthy(fa.container("redis"), fb.container("mongodb"))
    yield Round(run, before, {"after": after})


@pytest.mark.parametrize(("name", "code"), [
    ("fa", "REDIS_UNREACHABLE"),
    ("fb", "MONGO_UNREACHABLE"),
    ("fc", "REDIS_AUTH_FAILED"),
    ("fd", "MONGO_AUTH_FAILED"),
])
def test_audit_reports_the_fault(labs: Labs, audit_round: Round, name: str, code: str) -> None:
    run = audit_round.run
    assert run.rc == 2, run.stdout[-3000:]
    msg = final_message(run, name)
    assert run.failed(name) == 1 and msg.startswith("Audit of %s:" % name), msg
    codes = finding_codes(labs.reports, name)
    assert code in codes, codes
    # The audit wrote nothing and restarted nothing.
    before, after = audit_round.before[name], audit_round.extra["after"][name]
    assert (after.env, after.override, after.backups) == (before.env, before.override, before.backups)
    assert (after.api_id, after.api_started) == (before.api_id, before.api_started)


# --- SIGKILL at three points, then a run that converges and reclaims the stale lock -----------------------------

KILL_POINTS = {
    "fa": "TASK [copilotos_env : apply | Write the managed keys of the env file]",
    "fb": "TASK [copilotos_env : apply | Reset the compose entries that shadow the managed keys]",
    "fc": "TASK [copilotos_verify : %s]" % PROVE_TASK,
}


@pytest.fixture(scope="module")
def killed(labs: Labs, remediated: Run) -> Round:
    """Three runs at once, one per host, each SIGKILLed at its point; then one run over the three."""
    for name in KILL_POINTS:
        ensure_incident(labs.hosts[name], labs.incident[name])
    all_healthy(labs)
    before = {name: snapshot(labs.hosts[name]) for name in KILL_POINTS}
    procs = {name: start_playbook("remediate.yml", labs.inventory, "--limit", name, kill_at=marker)
             for name, marker in KILL_POINTS.items()}
    for name, proc in procs.items():
        proc.wait(timeout=600)
        assert proc.killed, "run on %s ended before %r: %s" % (name, KILL_POINTS[name], proc.output[-2000:])
    after_kill = {name: snapshot(labs.hosts[name]) for name in KILL_POINTS}
    locks = {name: (labs.hosts[name].project_dir / LOCK).read_text() for name in KILL_POINTS
             if (labs.hosts[name].project_dir / LOCK).exists()}
    converge = run_playbook("remediate.yml", labs.inventory, labs.work, cmdline="--limit fa,fb,fc",
                            extravars=ONE_BATCH)
    return Round(converge, before, {"after_kill": after_kill, "locks": locks,
                                    "pids": {name: p.pid for name, p in procs.items()}})


@pytest.mark.parametrize("name", list(KILL_POINTS))
def test_sigkill_leaves_old_or_new_file_and_next_run_converges(labs: Labs, killed: Round, name: str) -> None:
    host = labs.hosts[name]
    at_kill = killed.extra["after_kill"][name]
    assert labs.is_old_or_new(name, at_kill.env), "a mixed env file after SIGKILL: %s" % at_kill.env_digest
    if name == "fb":  # the write finished, the override and the recreate did not happen
        assert at_kill.env == labs.remediated[name] and at_kill.override is None
        assert at_kill.api_id == killed.before[name].api_id
    if name == "fc":  # killed while verifying the recreated api
        assert at_kill.env == labs.remediated[name] and at_kill.override is not None
        assert at_kill.api_id != killed.before[name].api_id
    # The killed run left its lock behind, naming its (dead) process.
    assert '"pid": %d' % killed.extra["pids"][name] in killed.extra["locks"][name]
    # The next run reclaims it and converges to the remediated state.
    run = killed.run
    assert run.rc == 0 and run.failed(name) == 0, run.stdout[-4000:]
    assert "reclaiming a stale lock %s (process %d no longer exists)" % (
        host.project_dir / LOCK, killed.extra["pids"][name]) in " ".join(run.stdout.split()), run.stdout[-3000:]
    after = snapshot(host)
    assert after.env == labs.remediated[name]
    assert after.override is not None
    assert not (host.project_dir / LOCK).exists()
    assert container_env(host.container("api"))["DB_MAX_POOL_SIZE"] == "50"
    assert health(host.container("api")) == "healthy"


# --- two runs at once ---------------------------------------------------------------------------------------------


def test_second_concurrent_run_fails_fast_naming_the_holder(labs: Labs, remediated: Run) -> None:
    host = labs.hosts["fd"]
    ensure_incident(host, labs.incident["fd"])
    all_healthy(labs)
    lock = host.project_dir / LOCK
    first = start_playbook("remediate.yml", labs.inventory, "--limit", "fd",
                           "-e", "copilotos_verify_watch_seconds=20")
    try:
        wait_until(lock.exists, 300, "the first run to take the lock")
        holder = lock.read_text()
        started = time.monotonic()
        second = run_playbook("remediate.yml", labs.inventory, labs.work, cmdline="--limit fd")
        took = time.monotonic() - started
        assert first.popen.poll() is None, "the first run ended before the second one failed: not concurrent"
        msg = final_message(second, "fd")
        assert second.rc == 2 and second.failed("fd") == 1, second.stdout[-3000:]
        assert "another copilotos run holds the lock %s" % lock in msg, msg
        assert "@%s pid %d since" % (socket.gethostname(), first.pid) in msg, msg
        assert lock.read_text() == holder, "the second run touched the first run's lock"
        rc = first.wait(timeout=600)
    finally:
        if first.popen.poll() is None:
            first.kill()
    assert rc == 0, first.output[-4000:]
    assert "reclaiming" not in first.output
    assert host.env_file.read_bytes() == labs.remediated["fd"]
    assert not lock.exists()
    # "Fast" is relative to the first run (asserted above: it was still running); this only bounds it.
    assert took < 240, "the second run took %.0fs to fail" % took

