"""Fleet runs of remediate.yml: a parallel audit and a rolling remediation that stops.

Four lab hosts run side by side on one engine, each its own Compose project,
listed in this order: ``fleeta``, ``fleetb``, ``fleetc``, ``fleetd``.
``fleetb`` is broken beyond repair in the most common fleet way: its vault
holds a stale Redis password (the password was rotated on the server and the
vault was not updated). The remediation writes a REDIS_URL with that
password, recreates the api, Redis refuses it, verification fails and the
rescue restores the backup and recreates the api with the old configuration.

- The audit (``--check``) takes all four hosts in one batch (remediate.yml
  templates ``serial`` on ``ansible_check_mode``), changes nothing and exits 2
  on the incident's critical findings.
- The remediation runs with ``copilotos_serial=1`` and
  ``copilotos_max_fail_percentage=0``: ``fleeta`` is remediated, ``fleetb``
  fails and is rolled back, and the rollout stops there, so ``fleetc`` and
  ``fleetd`` are untouched (same file bytes, same api StartedAt, no report).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.helpers.lab import (
    LabHost,
    container_env,
    docker_inspect,
    lab_down,
    make_inventory,
    read_env_file,
    run_cli,
    run_playbook,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAMES = ["fleeta", "fleetb", "fleetc", "fleetd"]
BROKEN = "fleetb"
STALE_PASSWORD = "stale-vault-Redis-pw-9"  # not a real secret: the wrong one on purpose


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[LabHost], Path]]:
    work = tmp_path_factory.mktemp("fleet")
    inventory, hosts = make_inventory(
        work,
        NAMES,
        extra_group_vars={
            "copilotos_report_dir": str(work / "reports"),
            # Keep the test short: the log watch window is the remediation's own
            # test subject elsewhere.
            "copilotos_verify_watch_seconds": 2,
        },
    )
    try:
        up = run_playbook("playbooks/lab.yml", inventory, work)
        if up.rc != 0:
            # Four stacks starting at once on a small, busy machine: a Mongo
            # stand-in can miss its first health checks. The lab run is
            # idempotent, so wait for the stacks once more.
            up = run_playbook("playbooks/lab.yml", inventory, work)
        assert up.rc == 0, up.stdout[-3000:]
        yield inventory, hosts, work
    finally:
        lab_down(inventory, work)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def started_at(host: LabHost) -> str:
    return str(docker_inspect(host.container("api"))["State"]["StartedAt"])


@dataclass
class CliRun:
    """An ansible-playbook run as an operator sees it: the recap and the summary table are in stdout."""

    rc: int
    stdout: str

    def recap(self) -> dict[str, dict[str, int]]:
        _, _, tail = self.stdout.partition("PLAY RECAP")
        return {
            m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
            for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", tail, re.M)
        }

    def batches(self, play: str = "Remediate | copilotos configuration") -> list[list[str]]:
        """Hosts that ran tasks in each batch (each play start) of the first play."""
        batches: list[list[str]] = []
        current: list[str] | None = None
        for line in self.stdout.splitlines():
            if line.startswith("PLAY ["):
                if line.startswith("PLAY [%s]" % play):
                    current = []
                    batches.append(current)
                else:
                    current = None
                continue
            found = re.match(r"^(?:ok|changed|skipping|fatal|failed|included): \[([^\] ]+)", line)
            if current is not None and found and found.group(1) not in current:
                current.append(found.group(1))
        return batches

    def summary_rows(self) -> dict[str, str]:
        """Rows of the COPILOTOS SUMMARY table printed after the recap, by host."""
        _, _, table = self.stdout.partition("COPILOTOS SUMMARY")
        return {line.split(" ", 1)[0]: line for line in table.splitlines() if line.split(" ", 1)[0] in NAMES}


def playbook(inventory: Path, work: Path, name: str, *args: str) -> CliRun:
    done = run_cli(["ansible-playbook", "-i", str(inventory), "remediate.yml", *args])
    (work / (name + ".log")).write_text(done.stdout + done.stderr)
    return CliRun(done.returncode, done.stdout)


def report(work: Path, host: str) -> dict:
    return json.loads((work / "reports" / "latest" / (host + ".json")).read_text())


def test_audit_runs_all_hosts_in_one_batch(fleet: tuple[Path, list[LabHost], Path]) -> None:
    inventory, hosts, work = fleet
    before = {h.name: (digest(h.env_file), started_at(h)) for h in hosts}

    audit = playbook(inventory, work, "audit", "--check")

    assert audit.rc == 2, audit.stdout[-3000:]
    # One batch with every host; inside it the hosts answer in any order.
    batches = audit.batches()
    assert len(batches) == 1 and sorted(batches[0]) == NAMES, batches
    recap = audit.recap()
    for host in hosts:
        assert (digest(host.env_file), started_at(host)) == before[host.name]
        assert report(work, host.name)["result"] == "findings"
        # Each host fails in the final exit-status play only, after its report.
        assert recap[host.name]["failed"] == 1
    rows = audit.summary_rows()
    assert sorted(rows) == NAMES
    assert all("audit only" in row for row in rows.values())


def test_rolling_remediation_stops_at_the_broken_host(fleet: tuple[Path, list[LabHost], Path]) -> None:
    inventory, hosts, work = fleet
    by_name = {h.name: h for h in hosts}
    stale = inventory / "host_vars" / BROKEN / "zz_stale_vault.yml"
    stale.write_text("---\n" + yaml.safe_dump({"copilotos_redis_password": STALE_PASSWORD}))
    stale.chmod(0o600)
    before = {h.name: (h.env_file.read_bytes(), started_at(h)) for h in hosts}
    latest_before = (work / "reports" / "latest").resolve()

    run = playbook(inventory, work, "rollout", "-e", "copilotos_serial=1", "-e", "copilotos_max_fail_percentage=0")

    assert run.rc == 2, run.stdout[-3000:]
    assert run.batches() == [["fleeta"], ["fleetb"]]
    recap = run.recap()
    # The run wrote a new report directory, shared by the hosts it reached.
    latest = (work / "reports" / "latest").resolve()
    assert latest != latest_before

    # Before the failing batch: remediated and proven.
    good = by_name["fleeta"]
    assert recap["fleeta"]["failed"] == 0 and recap["fleeta"]["changed"] > 0
    assert good.env_file.read_bytes() != before["fleeta"][0]
    assert started_at(good) != before["fleeta"][1]
    assert container_env(good.container("api"))["REDIS_URL"].endswith("@redis:6379/0")
    assert read_env_file(good.env_file)["RATE_LIMIT_CALLS"] == "500"
    assert report(work, "fleeta")["result"] == "remediated"

    # The failing batch: rolled back to the bytes it had, named as such.
    broken = by_name[BROKEN]
    assert recap[BROKEN]["failed"] == 1 and recap[BROKEN]["rescued"] == 1
    assert broken.env_file.read_bytes() == before[BROKEN][0]
    assert container_env(broken.container("api"))["REDIS_URL"] == "redis://localhost:6379/0"
    assert docker_inspect(broken.container("api"))["State"]["Health"]["Status"] == "healthy"
    assert report(work, BROKEN)["result"] == "rolled_back"
    rows = run.summary_rows()
    assert sorted(rows) == ["fleeta", BROKEN]
    assert "ROLLED BACK" in rows[BROKEN]
    assert re.search(r"fatal: \[%s\]: FAILED!.*rolled back" % BROKEN, run.stdout)
    assert STALE_PASSWORD not in run.stdout

    # After it: never started.
    for name in ("fleetc", "fleetd"):
        host = by_name[name]
        assert (host.env_file.read_bytes(), started_at(host)) == before[name], name
        assert name not in recap, name
        assert not (latest / (name + ".json")).exists(), name
