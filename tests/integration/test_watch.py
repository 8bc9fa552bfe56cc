"""make watch end to end: the rulebook audits, then remediates, a lab host by itself (issue 15).

One incident lab host, ``watch1``. ``make watch`` (its ``setup`` step, then
``scripts/watch.sh``) starts ansible-rulebook with rulebooks/copilotos.yml and
the project's Docker-log source against the lab's inventory. Then:

1. The api is recreated on the incident's own configuration, the way the
   diagnosis saw it: on start it fails its Redis connection (the diagnosis's
   ``Redis cache connection failed``, ``Error 111`` to localhost). The source
   re-attaches to the new container and emits the signature.
2. Within a bounded time, by themselves: the audit of that host ran (its
   report and a ``verdict`` with critical causes in the decision log), then
   the remediation (``remediated`` in the decision log and the report, a line
   in the host's remediation log), and the api is healthy.
3. A second burst of the same signature inside the throttle window reaches
   the source (``signature`` records) and triggers nothing: no second audit,
   no second remediation.
4. The rulebook stops on SIGINT, as Ctrl-C sends it (to make's process
   group, by make's PID), within a bounded time, and leaves no process.

No secret of the lab appears in the decision log or in the rulebook's output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from tests.helpers.lab import ROOT, VENV_PATH, lab_down, lab_secrets, make_inventory, run_playbook
from tests.integration.conftest import api_health, compose, docker, wait_healthy, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST = "watch1"
# Audit + remediation of one lab host take a minute or two on a quiet machine.
DEADLINE = float(os.environ.get("COPILOTOS_WATCH_TEST_DEADLINE", "420"))
SECRET_KEYS = ("copilotos_redis_password", "copilotos_mongo_password", "copilotos_lab_saptiva_api_key",
               "copilotos_lab_jwt_secret", "copilotos_lab_secret_key")
BURST = "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection refused."


def decisions(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def kinds(path: Path, kind: str) -> list[dict[str, Any]]:
    return [d for d in decisions(path) if d.get("decision") == kind]


def group_left(pgid: int) -> list[str]:
    """Command lines of the processes still in process group ``pgid``."""
    out = subprocess.run(["ps", "-o", "pgid=,args=", "-e"], capture_output=True, text=True, check=True).stdout
    return [line.split(None, 1)[1] for line in out.splitlines() if line.split() and line.split()[0] == str(pgid)]


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> float:
    """SIGINT to make's process group, as Ctrl-C; SIGTERM, then SIGKILL, if it does not stop. Seconds it took.

    make does not forward a SIGINT sent to its PID alone (it waits for
    ansible-rulebook), so the group gets it, which is what a terminal does.
    """
    started = time.monotonic()
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    return time.monotonic() - started


def test_watch_audits_then_remediates_once_per_window(tmp_path_factory: pytest.TempPathFactory) -> None:
    work = tmp_path_factory.mktemp("watch")
    reports = work / "reports"
    inventory, hosts = make_inventory(work, [HOST], extra_group_vars={
        "copilotos_report_dir": str(reports),
        "copilotos_verify_watch_seconds": 2,
    })
    host = hosts[0]
    state = work / "watch"
    log = state / "decisions.jsonl"
    output = work / "rulebook.out"
    proc: subprocess.Popen[bytes] | None = None
    up = run_playbook("playbooks/lab.yml", inventory, work)
    try:
        assert up.rc == 0, up.stdout[-3000:]
        secrets = [str(lab_secrets(inventory, HOST)[key]) for key in SECRET_KEYS]
        env = dict(os.environ, PATH=VENV_PATH, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                   COPILOTOS_WATCH_DIR=str(state))
        with output.open("wb") as out:
            proc = subprocess.Popen(["make", "watch", "INVENTORY=%s" % inventory, "WATCH_WINDOW=15 minutes"],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        started = time.monotonic()
        first = wait_until(lambda: kinds(log, "follow"), 120, "the source to follow the api")[0]
        assert first["host"] == HOST and first["service"] == "api"
        rules = yaml.safe_load((state / "copilotos.yml").read_text())[0]["rules"]
        windows = [r["throttle"]["once_within"] for r in rules if "throttle" in r]
        assert windows == ["15 minutes", "15 minutes"]  # make's WATCH_WINDOW reached the rulebook
        assert proc.poll() is None, output.read_text()[-3000:]

        # 1. The incident's api, recreated: it fails Redis on start.
        compose(host, "up", "-d", "--force-recreate", "--no-deps", "api")
        new_id = docker("inspect", "--format", "{{.Id}}", host.container("api")).strip()[:12]
        wait_until(lambda: any(f["container_id"] == new_id for f in kinds(log, "follow")), 60,
                   "the source to re-attach to the recreated api")
        wait_until(lambda: kinds(log, "signature"), 120, "a Redis signature from the recreated api")
        assert {s["area"] for s in kinds(log, "signature")} <= {"redis", "mongo"}

        # 2. The audit, then the remediation, by themselves.
        verdict = wait_until(lambda: kinds(log, "verdict"), DEADLINE, "the watch's audit verdict")[0]
        assert verdict["host"] == HOST and verdict["critical"] > 0 and verdict["remediate"] is True, verdict
        assert kinds(log, "audit")[0]["host"] == HOST
        done = wait_until(lambda: kinds(log, "remediated"), DEADLINE, "the watch's remediation")[0]
        elapsed = time.monotonic() - started
        assert done["host"] == HOST and done["result"] == "remediated", done
        report = json.loads((reports / "latest" / ("%s.json" % HOST)).read_text())
        assert report["result"] == "remediated" and report["mode"] == "remediate"
        remediation_log = host.project_dir / ".copilotos-remediation.log"
        runs = remediation_log.read_text().splitlines()
        assert runs and json.loads(runs[-1]).get("changed_keys"), "the remediation log has no run that changed keys"
        wait_healthy(host.container("api"), timeout=120)
        assert api_health(host)
        print("watch: signature to remediated in %.0f s" % elapsed)

        # 3. A second burst of the same signature, inside the window: nothing.
        seen = len(kinds(log, "signature"))
        docker("exec", host.container("api"), "sh", "-c",
               'for i in 1 2 3; do echo "%s" > /proc/1/fd/1; done' % BURST)
        wait_until(lambda: len(kinds(log, "signature")) >= seen + 3, 60, "the second burst to reach the source")
        time.sleep(20)  # room for an audit the throttle should have suppressed
        assert len(kinds(log, "audit")) == 1 and len(kinds(log, "remediate")) == 1, decisions(log)
        assert len(kinds(log, "verdict")) == 1 and len(kinds(log, "remediated")) == 1
        assert remediation_log.read_text().splitlines() == runs
        assert proc.poll() is None, output.read_text()[-3000:]

        # 4. It stops, by its PID.
        took = stop(proc)
        assert proc.returncode is not None and took < 60, "the rulebook took %.0f s to stop" % took
        assert group_left(proc.pid) == []
        print("watch: make watch stopped %.1f s after SIGINT (exit %s)" % (took, proc.returncode))
        text = output.read_text(errors="replace") + log.read_text()
        for secret in secrets:
            for form in {secret, quote(secret, safe="")}:
                assert form not in text, "a lab secret appears in the rulebook output or the decision log"
    finally:
        if proc is not None and proc.poll() is None:
            stop(proc)
        down = lab_down(inventory, work)
        assert down.rc == 0, down.stdout[-2000:]
