"""remediate.yml end to end through ansible-runner, on an incident lab of its own.

The story runs once per lab variant ({diagnosis, current} api generation x
{flat, upstream} layout). The gate runs the incident's own variant (the
diagnosis generation on the upstream layout); the current generation and the
flat layout are remediated in the gate too, by test_first_run.py,
test_bad_input.py and test_ssh.py. ``COPILOTOS_ALL_VARIANTS=1`` (``make
test-all``) runs the story on all four.

One lab host, ``rem``, per variant and one ordered story (the tests share the lab and run
in file order; each one states what it expects from the previous ones):

1. ``--check --diff -vvv``: the audit exits 2 on the incident's critical
   findings, names each defect, and writes and restarts nothing on the host.
2. The remediation (``--diff -vvv``) exits 0 and proves itself on the live
   system, checked here independently: container env, Redis AUTH with the URL
   password, CORS preflight with credentials, a 50-request burst, clean logs
   since the recreate, unmanaged lines of the env file byte for byte (the
   incident file carries an operator's hand edit: a UTF-8 BOM and a
   multi-line PEM value, both kept).
3. A second run changes nothing and leaves the api StartedAt alone.
4. Drift: an operator edits a managed key back by hand and runs ``docker
   compose restart api`` (which applies nothing, so the api still runs the
   desired configuration); a run restores the file and leaves the api alone.
   Then the file is right but the container runs an old configuration (the
   diagnosis's edit-and-restart, seen from the other side); a run recreates
   the api and leaves the file alone.
5. No secret of the lab, plain or percent-encoded, appears in the output of
   the ``-vvv --diff`` runs or in their events.
6. ``playbooks/lab.yml -e lab_reset=true`` puts the incident back whole (file,
   no override, the api recreated on the incident values); a second lab run
   changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
import redis

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
from tests.helpers.promtool import check_metrics
from tests.helpers.webhook import Receiver, running_receiver

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST = "rem"
SERVICES = ("api", "web", "mongodb", "redis")
ORIGIN = "https://copiloto.saptiva.com"
ORIGINS = [ORIGIN, "https://www.copiloto.saptiva.com"]
# What the diagnosis asks for, under the keys the application reads
# (roles/copilotos_env has them as defaults; they are written out here so that
# the test does not trust the code under test).
EXPECTED = {
    "SAPTIVA_TIMEOUT": "120",
    "SAPTIVA_CONNECT_TIMEOUT": "15",
    "SAPTIVA_READ_TIMEOUT": "120",
    "DB_MIN_POOL_SIZE": "5",
    "DB_MAX_POOL_SIZE": "50",
    "DB_CONNECT_TIMEOUT_MS": "10000",
    "DB_SERVER_SELECTION_TIMEOUT_MS": "10000",
    "DB_MAX_IDLE_TIME_MS": "300000",
    "RATE_LIMIT_CALLS": "500",
    "RATE_LIMIT_PERIOD": "60",
}
# The diagnosis's own names, written for the operator's sake; never proof.
SEED = {"RATE_LIMIT_REQUESTS_PER_MINUTE": "500", "DB_CONNECTION_TIMEOUT_MS": "10000"}
MANAGED = {"REDIS_URL", "REDIS_PASSWORD", "CELERY_BROKER_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_DB",
           "CORS_ORIGINS", *EXPECTED, *SEED}
# The causes the audit names on every incident lab.
DEFECTS = ["REDIS_CLIENTS_MISCONFIGURED", "CORS_ORIGIN_MISSING", "MONGO_POOL_AGGRESSIVE", "RATE_LIMIT_BELOW_PLAN"]
# The gate's variant (generation, layout); all four with COPILOTOS_ALL_VARIANTS=1.
GATE = [("diagnosis", "upstream")]
ALL = [(g, lay) for g in ("diagnosis", "current") for lay in ("flat", "upstream")]
VARIANTS = ALL if os.environ.get("COPILOTOS_ALL_VARIANTS") == "1" else GATE


@dataclass
class Lab:
    inventory: Path
    host: LabHost
    work: Path
    secrets: dict[str, str]
    webhook: Receiver | None = None
    incident_env: bytes = b""
    pristine_env: bytes = b""  # the lab's own rendering, before the operator's hand edit
    runs: dict[str, Run] = field(default_factory=dict)

    def run(self, name: str, cmdline: str = "") -> Run:
        wait_healthy(self)
        result = run_playbook("remediate.yml", self.inventory, self.work, cmdline=cmdline)
        self.runs[name] = result
        return result

    @property
    def api_container(self) -> str:
        return self.host.container("api")

    def compose(self, *args: str) -> None:
        subprocess.run(
            ["docker", "compose", *self.host.compose_args(), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )


@pytest.fixture(scope="module", params=VARIANTS, ids=["%s-%s" % v for v in VARIANTS])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    generation, layout = request.param
    work = tmp_path_factory.mktemp("remediate-%s-%s" % (generation, layout))
    # The maintenance webhook and node_exporter's textfile directory, as an operator sets them.
    webhook_ctx = running_receiver()
    webhook = webhook_ctx.__enter__()
    (work / "textfile").mkdir()
    inventory, hosts = make_inventory(
        work,
        [HOST],
        generation=generation,
        layout=layout,
        extra_group_vars={
            "copilotos_report_dir": str(work / "reports"),
            # The log watch window is not this test's subject; keep the runs short.
            "copilotos_verify_watch_seconds": 2,
            "copilotos_notify_url": webhook.url,
            "copilotos_metrics_textfile_dir": str(work / "textfile"),
        },
    )
    up = run_playbook("playbooks/lab.yml", inventory, work)
    try:
        assert up.rc == 0, up.stdout[-3000:]
        lab = Lab(inventory, hosts[0], work, lab_secrets(inventory, HOST), webhook=webhook)
        hand_edit(lab)
        yield lab
    finally:
        webhook_ctx.__exit__(None, None, None)
        down = lab_down(inventory, work)
        assert down.rc == 0, down.stdout[-2000:]


# --- helpers -----------------------------------------------------------------

# An operator's hand edit of the incident file, as Compose reads it: saved by
# an editor that writes a UTF-8 BOM, and a client key pasted as a multi-line
# double-quoted value (fake, not a secret). The remediation must keep both
# byte for byte.
BOM = b"\xef\xbb\xbf"
PEM_TEXT = "\n".join(["-----BEGIN PRIVATE KEY-----", "TUlJQkZBS0VrZXlGT1JsYWJ0ZXN0cw==", "bm90LWEtcmVhbC1rZXk=",
                      "-----END PRIVATE KEY-----"])
PEM_LINES = ('\n# Pasted by hand: the client key of an outbound integration.\nLAB_TLS_CLIENT_KEY="%s"\n'
             % PEM_TEXT).encode()


def textfile(lab: Lab) -> Path:
    return lab.work / "textfile" / ("copilotos_%s.prom" % HOST)


def hand_edit(lab: Lab) -> None:
    """Put the BOM and the multi-line value in the incident file, and recreate the api on it."""
    lab.pristine_env = lab.host.env_file.read_bytes()
    assert not lab.pristine_env.startswith(BOM)
    lab.host.env_file.write_bytes(BOM + lab.pristine_env + PEM_LINES)
    lab.compose("up", "-d", "--no-deps", "api")
    assert container_env(lab.api_container)["LAB_TLS_CLIENT_KEY"] == PEM_TEXT



def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def project_files(lab: Lab) -> dict[str, tuple[str, int]]:
    """Every file under the project directory: sha256 and mtime (ns)."""
    return {
        str(p.relative_to(lab.host.project_dir)): (sha256(p), p.stat().st_mtime_ns)
        for p in sorted(lab.host.project_dir.rglob("*"))
        if p.is_file()
    }


def api_state(lab: Lab) -> tuple[str, str]:
    info = docker_inspect(lab.api_container)
    return info["Id"], info["State"]["StartedAt"]


def wait_healthy(lab: Lab, timeout: float = 120) -> None:
    """Every service's own Docker health check says healthy.

    A loaded machine can miss a few checks; the remediation's verification
    fails on any unhealthy service, so each run starts from a healthy stack.
    """
    deadline = time.monotonic() + timeout
    while True:
        health = {
            service: docker_inspect(lab.host.container(service))["State"].get("Health", {}).get("Status")
            for service in SERVICES
        }
        if set(health.values()) == {"healthy"}:
            return
        assert time.monotonic() < deadline, "lab not healthy after %ds: %s" % (timeout, health)
        time.sleep(2)


def unmanaged_lines(data: bytes) -> list[bytes]:
    """Comments, blank lines and unmanaged keys of an env file, in order."""
    return [
        line for line in data.splitlines() if line.split(b"=", 1)[0].decode() not in MANAGED or line.startswith(b"#")
    ]


def secret_forms(lab: Lab) -> dict[str, str]:
    """Each lab secret, plain and percent-encoded (named, never printed)."""
    forms = {}
    for name, value in lab.secrets.items():
        if name == "copilotos_mongo_username":
            continue
        forms[name] = value
        forms[name + " (percent-encoded)"] = quote(value, safe="")
    return forms


def leaks(lab: Lab, text: str) -> list[str]:
    return sorted(name for name, value in secret_forms(lab).items() if value in text)


def options(lab: Lab, origin: str) -> tuple[int, dict[str, str]]:
    req = urllib.request.Request(
        lab.host.api + "/api/health",
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def get_status(url: str) -> int:
    try:
        # The loopback Host urllib sends is in the api's default ALLOWED_HOSTS, as for the diagnosis's curl.
        req = urllib.request.Request(url)
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def api_logs_since_start(lab: Lab) -> str:
    _, started = api_state(lab)
    out = subprocess.run(
        ["docker", "logs", "--since", started, lab.api_container], capture_output=True, text=True, check=True
    )
    return out.stdout + out.stderr


def container_address(name: str) -> str:
    networks = docker_inspect(name)["NetworkSettings"]["Networks"]
    return str(next(iter(networks.values()))["IPAddress"])


def host_changed(run: Run) -> int:
    return run.changed(HOST)


def tail(run: Run, chars: int = 4000) -> str:
    return run.stdout[-chars:]


# --- 1. audit ------------------------------------------------------------------


def test_check_diff_audits_and_changes_nothing(lab: Lab) -> None:
    wait_healthy(lab)
    files_before = project_files(lab)
    api_before = api_state(lab)
    lab.incident_env = lab.host.env_file.read_bytes()

    run = lab.run("check", "--check --diff -vvv")

    assert run.rc == 2, tail(run)
    assert run.failed(HOST) == 1, run.stats
    audit_failures = [e for e in run.events if e.get("event") == "runner_on_failed"]
    assert [e["event_data"]["task"] for e in audit_failures] == [
        "exit_status | Fail the audit when findings reach copilotos_audit_fail_on"
    ], tail(run)
    # Nothing written, nothing restarted, nothing announced, no metrics (an audit is read-only).
    assert project_files(lab) == files_before
    assert api_state(lab) == api_before
    assert not lab.host.override_file.exists()
    assert lab.webhook is not None and lab.webhook.bodies == []
    assert not textfile(lab).exists()
    # The report names the real causes, with where and the fix.
    report = json.loads(next((lab.work / "reports").glob("*/%s.json" % HOST)).read_text())
    by_code = {f["code"]: f for f in report["findings"]}
    for code in DEFECTS:
        assert code in by_code, (code, sorted(by_code))
        assert by_code[code]["fix"] and by_code[code]["where"], by_code[code]
    generation = lab.host.generation
    # Detected from the image's source, not from the inventory.
    assert generation in by_code["APP_GENERATION"]["message"], by_code["APP_GENERATION"]
    redis_sources = {c["source"] for c in by_code["REDIS_CLIENTS_MISCONFIGURED"]["evidence"]["clients"]}
    # The diagnosis generation's cache dials CELERY_BROKER_URL (localhost); the current one REDIS_URL.
    assert redis_sources == ({"CELERY_BROKER_URL"} if generation == "diagnosis" else {"REDIS_URL"}), redis_sources
    if lab.host.upstream:
        shadow = by_code["COMPOSE_SHADOWS_ENV_FILE"]
        assert "CORS_ORIGINS" in shadow["evidence"]["keys"], shadow
    # The diff shows the key changes, with secrets masked.
    plain = re.sub(r"\x1b\[[0-9;]*m", "", run.stdout)
    diff_lines = [line for line in plain.splitlines() if line.startswith(("+", "-"))]
    assert "+RATE_LIMIT_CALLS=500" in diff_lines, "\n".join(diff_lines)
    assert "+CELERY_BROKER_URL=redis://:********@redis:6379/1" in diff_lines, "\n".join(diff_lines)


# --- 2. remediation ----------------------------------------------------------------


def test_remediation_fixes_the_live_system(lab: Lab) -> None:
    assert lab.incident_env, "needs the audit test first"
    api_before = api_state(lab)

    run = lab.run("remediate", "--diff -vvv")

    assert run.rc == 0, tail(run)
    assert run.failed(HOST) == 0 and host_changed(run) > 0, run.stats
    wait_healthy(lab)
    api_after = api_state(lab)
    assert api_after[0] != api_before[0] and api_after[1] != api_before[1], "the api was not recreated"
    # The report's post-change record (the diagnosis's production checklist), from this run's stage facts.
    report = json.loads(sorted((lab.work / "reports").glob("*/%s.json" % HOST))[-1].read_text())
    record = report["post_change"]
    assert record and record["backup_path"] and record["changed_keys"], report["changes"]
    assert record["restart"]["recreated"] is True
    assert record["restart"]["started_before"] == api_before[1], record["restart"]
    assert record["restart"]["started_after"] and record["restart"]["started_after"] != api_before[1]
    assert record["log_watch"] and record["log_watch"]["window_s"] == 2, record["log_watch"]
    assert record["verification"] and record["next_audit"]["after_hours"] == 48 and record["next_audit"]["at"]
    # The maintenance webhook heard of the recreate before it, and of the outcome after it; names only.
    assert lab.webhook is not None
    events = [body["copilotos"]["event"] for body in lab.webhook.bodies]
    assert events == ["before_recreate", "after_verify"], events
    before_body, after_body = (body["copilotos"] for body in lab.webhook.bodies)
    assert before_body["keys"] and set(before_body["keys"]) <= MANAGED | {"override"}, before_body["keys"]
    assert after_body["result"] == "remediated" and after_body["rolled_back"] is False
    assert Path(after_body["report"]).is_file(), after_body["report"]
    bodies = json.dumps(lab.webhook.bodies)
    assert not [name for name, form in secret_forms(lab).items() if form in bodies], "a secret in a payload"
    # node_exporter's textfile: valid, this run's result, one recreate, no drift left.
    metrics = textfile(lab).read_text()
    assert stat.S_IMODE(textfile(lab).stat().st_mode) == 0o644
    check = check_metrics(metrics)
    assert check.returncode == 0, check.stdout + check.stderr
    assert re.search(r'^copilotos_run_info\{[^}]*result="remediated"[^}]*\} 1$', metrics, re.M), metrics
    assert re.search(r"^copilotos_api_recreates_total\{[^}]*\} 1$", metrics, re.M), metrics
    assert re.search(r"^copilotos_drift\{[^}]*\} 0$", metrics, re.M), metrics
    assert not [name for name, form in secret_forms(lab).items() if form in metrics], "a secret in the metrics"

    # The container runs the corrected values (and the seed's names beside them).
    env = container_env(lab.api_container)
    assert {key: env.get(key) for key in EXPECTED} == EXPECTED
    assert {key: env.get(key) for key in SEED} == SEED
    assert json.loads(env["CORS_ORIGINS"]) == ORIGINS
    url = urlsplit(env["REDIS_URL"])
    password = lab.secrets["copilotos_redis_password"]
    assert (url.scheme, url.hostname, url.port, url.path) == ("redis", "redis", 6379, "/0")
    assert url.password is not None
    assert re.fullmatch(r"[A-Za-z0-9._~%-]+", url.password), "the URL password is not percent-encoded"
    assert unquote(url.password) == password, "REDIS_URL does not carry the vault password"

    # Redis accepts AUTH with the URL's password (and refuses the placeholder).
    address = container_address(lab.host.container("redis"))
    assert (
        redis.Redis(host=address, port=url.port or 6379, password=unquote(url.password), socket_timeout=10).ping()
        is True
    )
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host=address, password="redis_password_change_me", socket_timeout=10).ping()
    broker = urlsplit(env["CELERY_BROKER_URL"])
    assert (broker.hostname, broker.path, unquote(broker.password or "")) == ("redis", "/1", password)
    # Redis's own view: an authenticated connection from the api container, made after the recreate.
    api_address = container_address(lab.api_container)
    admin = redis.Redis(host=address, password=password, socket_timeout=10)
    clients = [c for c in admin.client_list() if str(c.get("addr", "")).rpartition(":")[0] == api_address]
    assert clients, "no connection from the api (%s) in Redis's CLIENT LIST" % api_address

    # CORS preflight from production, with credentials; an unknown origin gets nothing.
    for origin in ORIGINS:
        status, headers = options(lab, origin)
        assert status == 200, (origin, status)
        assert headers.get("access-control-allow-origin") == origin
        assert headers.get("access-control-allow-credentials") == "true"
    assert "access-control-allow-origin" not in options(lab, "https://evil.example")[1]

    # The diagnosis's Test 3: 50 concurrent health requests, all 200.
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(get_status, [lab.host.api + "/api/health"] * 50))
    assert statuses == [200] * 50, sorted(set(statuses))
    req = urllib.request.Request(lab.host.api + "/api/health")
    with urllib.request.urlopen(req, timeout=30) as resp:
        health = json.loads(resp.read())
    assert health["status"] == "healthy", health
    # ALLOWED_HOSTS is enforced as Starlette's TrustedHostMiddleware does: an unknown Host gets 400.
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(
            urllib.request.Request(lab.host.api + "/api/health", headers={"Host": "evil.example"}), timeout=30)
    assert denied.value.code == 400

    # No Redis failure logged since the recreate (after all that traffic).
    logs = api_logs_since_start(lab)
    assert "Redis cache connection failed" not in logs
    assert "Redis token blacklist connection failed" not in logs
    assert "Error 111" not in logs

    # Unmanaged keys and comments intact byte for byte, in order; still 0600.
    # The BOM and the multi-line value too, and the api still gets the key.
    after = lab.host.env_file.read_bytes()
    assert unmanaged_lines(after) == unmanaged_lines(lab.incident_env), "unmanaged lines changed"
    assert after.startswith(BOM) and after.count(BOM) == 1, "the BOM was not kept"
    assert PEM_LINES in after, "the multi-line value was not kept byte for byte"
    assert env["LAB_TLS_CLIENT_KEY"] == PEM_TEXT
    values = read_env_file(lab.host.env_file)
    assert values["SAPTIVA_API_KEY"] == lab.secrets["copilotos_lab_saptiva_api_key"]
    assert values["JWT_SECRET_KEY"] == lab.secrets["copilotos_lab_jwt_secret"]
    assert oct(lab.host.env_file.stat().st_mode & 0o777) == "0o600"


# --- 3. idempotence -------------------------------------------------------------------


def test_second_run_changes_nothing(lab: Lab) -> None:
    assert "remediate" in lab.runs, "needs the remediation test first"
    wait_healthy(lab)
    api_before = api_state(lab)
    env_before = lab.host.env_file.read_bytes()
    assert lab.webhook is not None
    lab.webhook.reset()

    run = lab.run("again")

    assert run.rc == 0, tail(run)
    assert run.failed(HOST) == 0 and host_changed(run) == 0, run.stats
    assert api_state(lab) == api_before
    assert lab.host.env_file.read_bytes() == env_before
    # Nothing changed: no post-change record in the report.
    report = json.loads(sorted((lab.work / "reports").glob("*/%s.json" % HOST))[-1].read_text())
    assert report["post_change"] is None, report["post_change"]
    # No maintenance to announce; the metrics say compliant, still one recreate.
    assert lab.webhook.bodies == []
    metrics = textfile(lab).read_text()
    assert re.search(r'^copilotos_run_info\{[^}]*result="compliant"[^}]*\} 1$', metrics, re.M), metrics
    assert re.search(r"^copilotos_api_recreates_total\{[^}]*\} 1$", metrics, re.M), metrics
    # The operator's summary after the recap: no finding above info (the app's own facts stay, as
    # info), nothing changed, nothing recreated, proven.
    assert re.search(r"^rem\s+0\s+0\s+0\s+\d+\s+none\s+no\s+passed\s", run.stdout.partition("COPILOTOS SUMMARY")[2],
                     re.M), tail(run)


def test_audit_after_the_remediation_is_clean(lab: Lab) -> None:
    assert "remediate" in lab.runs, "needs the remediation test first"
    run = lab.run("audit-after", "--check")
    assert run.rc == 0, tail(run)
    assert run.failed(HOST) == 0 and host_changed(run) == 0, run.stats
    report = json.loads(sorted((lab.work / "reports").glob("*/%s.json" % HOST))[-1].read_text())
    above_info = [f["code"] for f in report["findings"] if f["severity"] != "info"]
    assert above_info == [], above_info


TUNED = {"copilotos_env_db_max_pool_size": 80, "copilotos_env_rate_limit_calls": 700,
         "copilotos_env_saptiva_timeout": 200, "copilotos_env_saptiva_read_timeout": 180}


def test_tuned_values_are_kept_and_their_audit_is_clean(lab: Lab) -> None:
    """Any values the argument spec accepts: the verification judges the plan this run applied."""
    assert "remediate" in lab.runs, "needs the remediation test first"
    wait_healthy(lab)
    # With the behaviour probe: from a fresh client address on the project network, 700 requests
    # pass and the 701st gets 429 (the api enforces RATE_LIMIT_CALLS, not the seed's key).
    run = run_playbook("remediate.yml", lab.inventory, lab.work,
                       extravars=dict(TUNED, copilotos_verify_rate_limit_probe="behaviour"))
    assert run.rc == 0, tail(run)
    assert run.failed(HOST) == 0 and host_changed(run) > 0, run.stats
    env = container_env(lab.api_container)
    assert (env["DB_MAX_POOL_SIZE"], env["RATE_LIMIT_CALLS"], env["SAPTIVA_TIMEOUT"],
            env["SAPTIVA_READ_TIMEOUT"]) == ("80", "700", "200", "180")
    report = json.loads(sorted((lab.work / "reports").glob("*/%s.json" % HOST))[-1].read_text())
    steps = {v["step"]: v["result"] for v in report["verification"]}
    assert steps.get("rate_limit") == "passed", steps
    audit = run_playbook("remediate.yml", lab.inventory, lab.work, cmdline="--check", extravars=TUNED)
    assert audit.rc == 0 and audit.changed(HOST) == 0, tail(audit)
    # Back to the defaults for the tests that follow.
    back = lab.run("untuned")
    assert back.rc == 0, tail(back)
    assert container_env(lab.api_container)["DB_MAX_POOL_SIZE"] == "50"


# --- 4. drift -----------------------------------------------------------------------


def test_hand_edit_with_compose_restart_is_undone(lab: Lab) -> None:
    """The diagnosis's own procedure on a fixed host: edit the env file, `docker compose restart api`.

    The restart applies nothing (the container keeps the environment it was
    created with), so the api still runs the desired configuration: the run
    restores the file and leaves the api alone, as compose_apply compares the
    rendered config hash with the running container.
    """
    assert "remediate" in lab.runs, "needs the remediation test first"
    fixed = lab.host.env_file.read_bytes()
    lab.host.env_file.write_bytes(
        fixed.replace(b"RATE_LIMIT_CALLS=500\n", b"RATE_LIMIT_CALLS=100\n")
    )
    assert lab.host.env_file.read_bytes() != fixed
    lab.compose("restart", "api")
    wait_healthy(lab)
    assert container_env(lab.api_container)["RATE_LIMIT_CALLS"] == "500"
    api_before = api_state(lab)

    run = lab.run("drift-file")

    assert run.rc == 0, tail(run)
    assert run.failed(HOST) == 0 and host_changed(run) > 0, run.stats
    assert lab.host.env_file.read_bytes() == fixed
    assert oct(lab.host.env_file.stat().st_mode & 0o777) == "0o600"
    assert api_state(lab) == api_before, "the api was recreated though it already ran the desired configuration"
    assert container_env(lab.api_container)["RATE_LIMIT_CALLS"] == "500"


def test_container_running_an_old_config_is_recreated(lab: Lab) -> None:
    """The file is right but the api runs an older configuration."""
    assert "remediate" in lab.runs, "needs the remediation test first"
    fixed = lab.host.env_file.read_bytes()
    lab.host.env_file.write_bytes(fixed.replace(b"DB_MAX_POOL_SIZE=50\n", b"DB_MAX_POOL_SIZE=100\n"))
    lab.compose("up", "--detach", "--no-deps", "--wait", "--wait-timeout", "120", "api")
    lab.host.env_file.write_bytes(fixed)
    assert container_env(lab.api_container)["DB_MAX_POOL_SIZE"] == "100"
    wait_healthy(lab)
    api_before = api_state(lab)
    files_before = {
        name: digest for name, (digest, _) in project_files(lab).items() if not name.startswith(".copilotos-")
    }

    run = lab.run("drift-container")

    assert run.rc == 0, tail(run)
    assert run.failed(HOST) == 0 and host_changed(run) > 0, run.stats
    api_after = api_state(lab)
    assert api_after[0] != api_before[0] and api_after[1] != api_before[1], "the api was not recreated"
    env = container_env(lab.api_container)
    assert {key: env.get(key) for key in EXPECTED} == EXPECTED
    # Nothing to write: the configuration files are as they were.
    assert {
        name: digest for name, (digest, _) in project_files(lab).items() if not name.startswith(".copilotos-")
    } == files_before


# --- 5. secrets ---------------------------------------------------------------------


def test_no_secret_in_any_output(lab: Lab) -> None:
    assert {"check", "remediate"} <= set(lab.runs), "needs the audit and remediation tests first"
    for name, run in lab.runs.items():
        assert leaks(lab, run.stdout) == [], "secret in the stdout of the %s run" % name
        assert leaks(lab, json.dumps(run.events)) == [], "secret in the events of the %s run" % name
    reports = "".join(p.read_text() for p in (lab.work / "reports").rglob("*") if p.is_file())
    assert leaks(lab, reports) == [], "secret in a report"


# --- 6. lab reset -------------------------------------------------------------------


def test_lab_reset_puts_the_whole_incident_back(lab: Lab) -> None:
    """``playbooks/lab.yml -e lab_reset=true`` after a remediation: file, override and running api."""
    assert "remediate" in lab.runs and lab.pristine_env, "needs the audit and remediation tests first"
    reset = run_playbook("playbooks/lab.yml", lab.inventory, lab.work, extravars={"lab_reset": True})
    assert reset.rc == 0 and reset.changed(HOST) > 0, tail(reset)
    assert lab.host.env_file.read_bytes() == lab.pristine_env  # the lab's own file: the hand edit is gone too
    assert not lab.host.override_file.exists()
    env = container_env(lab.api_container)
    assert "CELERY_BROKER_URL" not in env or "localhost" in env["CELERY_BROKER_URL"], "remediated still"
    assert "https://www.copiloto.saptiva.com" not in env["CORS_ORIGINS"]
    wait_healthy(lab)
    api_before = api_state(lab)
    again = run_playbook("playbooks/lab.yml", lab.inventory, lab.work)
    assert again.rc == 0 and again.changed(HOST) == 0, tail(again)
    assert api_state(lab) == api_before
