"""The production path: remediate.yml over SSH with become, against targets with their own Python.

Four SSH targets (``tests/helpers/ssh.py``: an sshd each on 127.0.0.2-5, login
``copilotos-deploy`` with a key, sudo with its password), each with its own
Compose project on this machine's Docker engine and its own virtualenv, built
by ``playbooks/bootstrap.yml`` from a pyenv Python other than the
controller's (3.9, 3.10, 3.12, 3.13 where they exist). The stacks are brought
up by the lab playbook locally (they are the fixture); everything the toolkit
does goes through the SSH inventory only.

The hosts, in rollout order:

- ``ssha``: remediated by the rollout, then the no-op second run and
  ``playbooks/rollback.yml``;
- ``sshb``: broken beyond repair (its vault holds a stale Redis password):
  the rollout fails there, rolls it back and stops;
- ``sshc``: untouched by the rollout; then its SSH connections are cut while
  its verification runs, and the next run converges and reclaims the lock;
- ``sshd``: untouched by the rollout; the refusals (bad input, become
  failures, a too-old Python, a held lock) run against it and change no byte;
  then it is remediated on its own Python (the change path's modules:
  backup, override, recreate, the remediation log) and its log holds that one
  run only.

A fifth inventory entry, ``sshghost``, has an address where nothing listens:
the fleet audit reports it unreachable and audits the others.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from tests.helpers.lab import ROOT, LabHost, Run, container_env, docker_inspect, lab_down, make_inventory, run_playbook
from tests.helpers.ssh import DEPLOY_USER, NOSUDO_USER, SshLab, SshTarget, ssh_lab, target_pythons, unavailable
from tests.integration.conftest import failure_messages, run_with_events, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.ssh]

NAMES = ["ssha", "sshb", "sshc", "sshd"]
BROKEN = "sshb"
GHOST = "sshghost"
STALE_PASSWORD = "stale-vault-Redis-pw-7"  # the wrong one on purpose, not a secret
WANTED_PYTHONS = ["3.9", "3.10", "3.12", "3.13", "3.11"]
CONTROLLER = "%d.%d" % sys.version_info[:2]
PLAY = "Remediate | copilotos configuration"


@dataclass
class Fleet:
    work: Path
    lab: SshLab
    local_inventory: Path
    inventory: Path
    hosts: dict[str, LabHost]
    targets: dict[str, SshTarget]
    pythons: dict[str, tuple[str, Path]]

    @property
    def reports(self) -> Path:
        return self.work / "reports"

    def venv(self, name: str) -> Path:
        return self.work / "venvs" / name

    def run(self, playbook: str, *args: str, extravars: dict[str, Any] | None = None, limit: str | None = None,
            on_event: Any = None) -> Run:
        cmdline = " ".join(([] if limit is None else ["--limit", limit]) + list(args))
        return run_with_events(playbook, self.inventory, self.work, extravars=extravars, cmdline=cmdline,
                               envvars={"ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "plugins" / "callback")},
                               on_event=on_event)


def tree(path: Path) -> dict[str, tuple[int, int, int, bytes | str]]:
    """Every entry under a project directory: mode, owner, group and bytes (or link target)."""
    out: dict[str, tuple[int, int, int, bytes | str]] = {}
    for entry in sorted([path, *path.rglob("*")]):
        st = entry.lstat()
        if stat.S_ISLNK(st.st_mode):
            body: bytes | str = os.readlink(entry)
        elif stat.S_ISREG(st.st_mode):
            body = entry.read_bytes()
        else:
            body = ""
        out[str(entry.relative_to(path))] = (st.st_mode, st.st_uid, st.st_gid, body)
    return out


def api_state(host: LabHost) -> tuple[str, str]:
    state = docker_inspect(host.container("api"))
    return str(state["Id"]), str(state["State"]["StartedAt"])


def report(fleet: Fleet, host: str) -> dict[str, Any]:
    return dict(json.loads((fleet.reports / "latest" / (host + ".json")).read_text()))


def stats(run: Run, host: str) -> dict[str, int]:
    return {key: int((run.stats.get(key) or {}).get(host, 0)) for key in ("ok", "changed", "failures", "dark")}


def pins_for(version: str) -> dict[str, str]:
    """requirements/target.txt as pip resolves it on one Python: name -> version."""
    env = {"python_version": ".".join(version.split(".")[:2]), "python_full_version": version}
    pins = {}
    for line in (ROOT / "requirements" / "target.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                pins[req.name.lower()] = str(req.specifier).lstrip("=")
    return pins


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    found = target_pythons(WANTED_PYTHONS, CONTROLLER)
    non_controller = {v.rsplit(".", 1)[0] for v, _ in found}
    if len(found) < 2 or not non_controller & {"3.9", "3.10"}:
        pytest.skip("need two pyenv Pythons other than %s, one of them 3.9 or 3.10 (found %s)"
                    % (CONTROLLER, sorted(non_controller)))
    # Four targets, cycling through the Pythons found (3.9, 3.10, 3.12, 3.13 on this machine).
    pythons = {name: found[i % len(found)] for i, name in enumerate(NAMES)}
    work = tmp_path_factory.mktemp("ssh")
    local_inventory, hosts = make_inventory(work / "local", NAMES, extra_group_vars={
        "copilotos_report_dir": str(work / "reports"), "copilotos_verify_watch_seconds": 2})
    up = run_playbook("playbooks/lab.yml", local_inventory, work)
    if up.rc != 0:  # four stacks at once on a small machine: wait for them once more
        up = run_playbook("playbooks/lab.yml", local_inventory, work)
    assert up.rc == 0, up.stdout[-3000:]
    try:
        with ssh_lab(work) as lab:
            inventory = work / "inventory"
            shutil.copytree(local_inventory, inventory)
            # The become password stays out of the inventory's host list, in a
            # 0600 file of its own, as a vault would hold it.
            secret = inventory / "group_vars" / "copilotos" / "become.yml"
            secret.write_text("---\nansible_become_password: %s\n" % json.dumps(lab.sudo_password))
            secret.chmod(0o600)
            targets: dict[str, SshTarget] = {}
            doc: dict[str, Any] = {"copilotos": {"hosts": {}}}
            for i, name in enumerate(NAMES):
                target = targets[name] = lab.add(name, "127.0.0.%d" % (i + 2))
                python = pythons[name][1]
                venv = work / "venvs" / name
                doc["copilotos"]["hosts"][name] = {
                    "copilotos_project_dir": str(hosts[i].project_dir),
                    "copilotos_compose_project": hosts[i].project,
                    "copilotos_api_port": hosts[i].port,
                    **lab.host_vars(target),
                    "ansible_python_interpreter": str(venv / "bin" / "python"),
                    "copilotos_venv_path": str(venv),
                    "copilotos_venv_python": str(python),
                }
            # Nothing listens there: a host that is down.
            ghost = dict(doc["copilotos"]["hosts"][NAMES[-1]])
            ghost.update({"ansible_host": "127.0.0.9", "ansible_port": 9, "ansible_ssh_timeout": 5,
                          "copilotos_compose_project": "ghost-nowhere",
                          **yaml.safe_load((inventory / "host_vars" / NAMES[-1] / "lab_secrets.yml").read_text())})
            (inventory / "hosts.yml").write_text("---\n" + yaml.safe_dump(doc, sort_keys=False))
            # Outside the inventory directory: added with a second -i when wanted.
            ghost_file = work / "ghost.yml"  # it holds the lab's secrets, as host_vars do: 0600
            ghost_file.touch(mode=0o600)
            ghost_file.write_text("---\n" + yaml.safe_dump({"copilotos": {"hosts": {GHOST: ghost}}}))
            (inventory / "host_vars" / BROKEN / "stale.yml").write_text(
                "---\ncopilotos_redis_password: %s\n" % json.dumps(STALE_PASSWORD))
            yield Fleet(work, lab, local_inventory, inventory, {h.name: h for h in hosts}, targets, pythons)
    finally:
        lab_down(local_inventory, work)


def without_ghost(fleet: Fleet) -> str:
    return "!" + GHOST


def test_targets_are_reached_as_an_unprivileged_user_and_own_their_files_as_root(fleet: Fleet) -> None:
    deploy = pwd.getpwnam(DEPLOY_USER)
    for host in fleet.hosts.values():
        st = host.env_file.stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600), host.env_file
        assert host.project_dir.stat().st_uid == 0
        # Only become reads the env file: the login user cannot.
        denied = subprocess.run(["setpriv", "--reuid", str(deploy.pw_uid), "--regid", str(deploy.pw_gid),
                                 "--init-groups", "cat", str(host.env_file)], capture_output=True, check=False)
        assert denied.returncode != 0 and denied.stdout == b""


def test_bootstrap_builds_each_targets_venv_from_its_own_python(fleet: Fleet) -> None:
    # The first bootstrap runs the base Python (the venv does not exist yet).
    base = {"ansible_python_interpreter": "{{ copilotos_venv_python }}"}
    first = fleet.run("playbooks/bootstrap.yml", extravars=base, limit=without_ghost(fleet))
    assert first.rc == 0, first.stdout[-4000:]
    for name in NAMES:
        assert stats(first, name)["changed"] >= 1 and stats(first, name)["failures"] == 0, stats(first, name)
        venv = fleet.venv(name)
        version = subprocess.run([str(venv / "bin" / "python"), "-c",
                                  "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert version == fleet.pythons[name][0]
        frozen = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze", "--disable-pip-version-check"],
                                capture_output=True, text=True, check=True).stdout
        installed = {line.split("==")[0].lower(): line.split("==")[1] for line in frozen.split() if "==" in line}
        assert installed == pins_for(version), name
        # Built by root through sudo, not by the login user.
        assert (venv / "bin" / "python").lstat().st_uid == 0
    second = fleet.run("playbooks/bootstrap.yml", extravars=base, limit=without_ghost(fleet))
    assert second.rc == 0 and all(stats(second, n)["changed"] == 0 for n in NAMES), second.stdout[-3000:]


def test_bootstrap_refuses_a_too_old_python_plainly(fleet: Fleet) -> None:
    old = target_pythons(["3.8"], CONTROLLER)
    if not old:
        pytest.skip("no Python 3.8 under pyenv")
    venv = fleet.work / "venv-too-old"
    run = fleet.run("playbooks/bootstrap.yml", limit="sshd",
                    extravars={"ansible_python_interpreter": "/usr/bin/python3",
                               "copilotos_venv_python": str(old[0][1]), "copilotos_venv_path": str(venv)})
    assert run.rc != 0 and stats(run, "sshd")["failures"] == 1
    msg = failure_messages(run, "sshd")[-1]
    assert "is Python %s; the modules need Python 3.9 or newer" % old[0][0] in msg, msg
    assert "copilotos_venv_python" in msg and "Traceback" not in msg
    assert not venv.exists()


def test_fleet_audit_over_ssh_changes_nothing_and_reports_the_unreachable_host(fleet: Fleet) -> None:
    before = {n: (tree(h.project_dir), api_state(h)) for n, h in fleet.hosts.items()}
    audit = fleet.run("remediate.yml", "--check", "--diff", "-i", str(fleet.work / "ghost.yml"))
    assert audit.rc == 2 or audit.rc == 4, audit.stdout[-3000:]
    assert stats(audit, GHOST)["dark"] == 1
    for name, host in fleet.hosts.items():
        # Check mode counts what it would change; the one failure is the
        # exit-status play's verdict on the critical findings, after the report.
        assert stats(audit, name)["dark"] == 0 and stats(audit, name)["failures"] == 1, (name, stats(audit, name))
        assert (tree(host.project_dir), api_state(host)) == before[name], name
        found = report(fleet, name)
        assert found["result"] == "findings" and found["mode"] == "audit"
        assert "REDIS_CLIENTS_MISCONFIGURED" in {f["code"] for f in found["findings"]}
    # The controller's summary and reports name the host that could not be reached.
    assert "COPILOTOS SUMMARY" in audit.stdout
    row = [line for line in audit.stdout.partition("COPILOTOS SUMMARY")[2].splitlines() if line.startswith(GHOST)]
    assert row and "UNREACHABLE" in row[0], audit.stdout[-2000:]
    ghost = report(fleet, GHOST)
    assert ghost["result"] == "unreachable" and "127.0.0.9" in ghost["failure"], ghost


def test_become_failures_say_so_and_change_nothing(fleet: Fleet) -> None:
    host = fleet.hosts["sshd"]
    before = (tree(host.project_dir), api_state(host))
    wrong = fleet.run("remediate.yml", limit="sshd", extravars={"ansible_become_password": "not-the-password"})
    assert wrong.rc != 0 and stats(wrong, "sshd")["changed"] == 0
    text = " ".join(failure_messages(wrong, "sshd")) + wrong.stdout
    assert "Incorrect sudo password" in text or "incorrect password" in text.lower(), wrong.stdout[-2000:]
    nosudo = fleet.run("remediate.yml", limit="sshd", extravars={"ansible_user": NOSUDO_USER})
    assert nosudo.rc != 0 and stats(nosudo, "sshd")["changed"] == 0
    text = " ".join(failure_messages(nosudo, "sshd")) + nosudo.stdout
    assert "sudo" in text.lower() and ("not in the sudoers" in text or "not allowed" in text
                                       or "password" in text.lower()), nosudo.stdout[-2000:]
    assert (tree(host.project_dir), api_state(host)) == before


def test_refused_runs_touch_nothing_on_the_target(fleet: Fleet) -> None:
    host = fleet.hosts["sshd"]
    before = (tree(host.project_dir), api_state(host))
    log = host.project_dir / ".copilotos-remediation.log"
    assert not log.exists()
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "bad variable": ({"copilotos_env_db_max_pool_size": "many"}, "copilotos_env_db_max_pool_size"),
        "missing project": ({"copilotos_project_dir": str(fleet.work / "no-such-project")}, "does not exist"),
    }
    old = target_pythons(["3.8"], CONTROLLER)
    if old:
        cases["too old python"] = ({"ansible_python_interpreter": str(old[0][1])}, "is too old")
    for what, (extravars, expected) in cases.items():
        run = fleet.run("remediate.yml", limit="sshd", extravars=extravars)
        assert run.rc != 0 and stats(run, "sshd")["changed"] == 0, what
        assert any(expected in m for m in failure_messages(run, "sshd")), (what, failure_messages(run, "sshd"))
        assert "Traceback" not in " ".join(failure_messages(run, "sshd")), what
        assert report(fleet, "sshd")["result"] == "refused", what
        assert (tree(host.project_dir), api_state(host)) == before, what
    # A held lock: another run's, alive.
    lock = host.project_dir / ".copilotos-remediation.lock"
    lock.write_text(json.dumps({"user": "ops", "host": "other-controller", "pid": 1, "playbook": "remediate.yml",
                                "started": "now", "epoch": time.time()}))
    lock.chmod(0o600)
    try:
        held = tree(host.project_dir)
        run = fleet.run("remediate.yml", limit="sshd")
        assert run.rc != 0 and stats(run, "sshd")["changed"] == 0
        assert any("other-controller" in m for m in failure_messages(run, "sshd")), failure_messages(run, "sshd")
        assert report(fleet, "sshd")["result"] == "refused"
        assert tree(host.project_dir) == held and api_state(host) == before[1]
    finally:
        lock.unlink()


def test_rolling_remediation_over_ssh_stops_at_the_broken_host(fleet: Fleet) -> None:
    before = {n: (tree(h.project_dir), api_state(h)) for n, h in fleet.hosts.items()}
    run = fleet.run("remediate.yml", limit=without_ghost(fleet),
                    extravars={"copilotos_serial": 1, "copilotos_max_fail_percentage": 0})
    assert run.rc != 0
    a, b = fleet.hosts["ssha"], fleet.hosts[BROKEN]
    assert stats(run, "ssha")["failures"] == 0 and stats(run, "ssha")["changed"] > 0
    assert report(fleet, "ssha")["result"] == "remediated"
    env = container_env(a.container("api"))
    assert env["REDIS_URL"].startswith("redis://:") and "@redis:6379" in env["REDIS_URL"]
    # Files the remediation made on the target belong to root (become), not to the login user.
    for path in [a.env_file, a.override_file, *a.project_dir.joinpath(".copilotos-backups").rglob("*")]:
        assert path.lstat().st_uid == 0, path
    assert stat.S_IMODE(a.env_file.stat().st_mode) == 0o600
    # The broken host failed its verification and is back on its old bytes.
    assert stats(run, BROKEN)["failures"] == 1
    assert "rolled back to" in failure_messages(run, BROKEN)[-1]
    assert report(fleet, BROKEN)["result"] == "rolled_back"
    assert b.env_file.read_bytes() == before[BROKEN][0][str(b.env_file.relative_to(b.project_dir))][3]
    # The rollout stopped there: the others were not touched.
    for name in ("sshc", "sshd"):
        assert stats(run, name) == {"ok": 0, "changed": 0, "failures": 0, "dark": 0}, name
        assert (tree(fleet.hosts[name].project_dir), api_state(fleet.hosts[name])) == before[name]
    # The controller holds the reports, the targets only their own files.
    assert not any(p.name.endswith((".html", ".md")) or p.name == "latest" for p in a.project_dir.rglob("*"))
    assert not any(str(p).startswith(str(fleet.reports)) for p in a.project_dir.rglob("*"))
    assert {"ssha.json", "ssha.md", "index.html"} <= {p.name for p in (fleet.reports / "latest").iterdir()}


def test_second_run_over_ssh_changes_nothing(fleet: Fleet) -> None:
    host = fleet.hosts["ssha"]
    before = (tree(host.project_dir), api_state(host))
    again = fleet.run("remediate.yml", limit="ssha")
    assert again.rc == 0, again.stdout[-3000:]
    assert stats(again, "ssha")["changed"] == 0
    after = tree(host.project_dir)
    # Only the remediation log grows (the run is recorded); nothing else moves.
    log = ".copilotos-remediation.log"
    assert {k: v for k, v in after.items() if k != log} == {k: v for k, v in before[0].items() if k != log}
    assert api_state(host) == before[1]
    assert report(fleet, "ssha")["result"] == "compliant"


def test_rollback_playbook_over_ssh_restores_the_backup(fleet: Fleet) -> None:
    host = fleet.hosts["ssha"]
    incident = container_env(fleet.hosts["sshd"].container("api"))["REDIS_URL"]
    run = fleet.run("playbooks/rollback.yml", limit="ssha")
    assert run.rc == 0, run.stdout[-3000:]
    assert stats(run, "ssha")["changed"] > 0
    assert not host.override_file.exists()
    assert container_env(host.container("api"))["REDIS_URL"] == incident
    assert report(fleet, "ssha")["result"] == "rolled_back"


def test_connection_cut_during_verification_then_the_next_run_converges(fleet: Fleet) -> None:
    host, target = fleet.hosts["sshc"], fleet.targets["sshc"]
    lock = host.project_dir / ".copilotos-remediation.lock"
    cut: list[int] = []

    def on_event(event: dict[str, Any]) -> None:
        data = event.get("event_data") or {}
        if event.get("event") == "playbook_on_task_start" and "Prove the live system" in (data.get("task") or "") \
                and not cut:
            # The verification module is on its way: cut the host's connections mid-run.
            def later() -> None:
                time.sleep(1.5)
                cut.append(target.drop_connections())
            threading.Thread(target=later, daemon=True).start()

    first = fleet.run("remediate.yml", limit="sshc", on_event=on_event,
                      extravars={"copilotos_verify_watch_seconds": 8})
    assert cut and cut[0] >= 1, "no connection was cut"
    assert stats(first, "sshc")["dark"] == 1, first.stdout[-3000:]
    # The dead run's lock is still on the target.
    assert lock.exists()
    second = fleet.run("remediate.yml", limit="sshc")
    assert second.rc == 0, second.stdout[-3000:]
    assert stats(second, "sshc")["failures"] == 0 and stats(second, "sshc")["dark"] == 0
    assert not lock.exists()
    assert report(fleet, "sshc")["result"] in ("remediated", "compliant")
    assert report(fleet, "sshc")["verification_overall"] == "passed"
    wait_until(lambda: container_env(host.container("api"))["REDIS_URL"].startswith("redis://:"), 10,
               "the api on the remediated REDIS_URL")


def test_the_refused_host_is_then_remediated_and_its_log_holds_that_run_only(fleet: Fleet) -> None:
    host = fleet.hosts["sshd"]
    log = host.project_dir / ".copilotos-remediation.log"
    assert not log.exists(), "a refused run wrote the host's remediation log"
    old_id, _started = api_state(host)
    run = fleet.run("remediate.yml", limit="sshd")
    assert run.rc == 0, run.stdout[-3000:]
    assert stats(run, "sshd")["failures"] == 0 and stats(run, "sshd")["changed"] > 0
    assert report(fleet, "sshd")["result"] == "remediated"
    assert report(fleet, "sshd")["verification_overall"] == "passed"
    assert api_state(host)[0] != old_id, "the api was not recreated"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(entries) == 1 and entries[0]["verification"] == "remediated" and entries[0]["restarted"], entries
    assert stat.S_IMODE(log.stat().st_mode) == 0o600 and log.stat().st_uid == 0
    backups = [p for p in host.project_dir.joinpath(".copilotos-backups").rglob("*") if p.is_file()]
    assert backups and all(stat.S_IMODE(p.stat().st_mode) == 0o600 and p.stat().st_uid == 0 for p in backups)
