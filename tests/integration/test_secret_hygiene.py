"""Secret hygiene (issue 6): no secret in any output, on success and failure paths, with -vvv and --diff.

Two lab hosts: ``hok`` takes the success paths, ``hbad`` the failure paths.
Every run below uses ``-vvv --diff``, with an Ansible log file configured
(``ANSIBLE_LOG_PATH``; the project's ansible.cfg sets none on purpose):

1. ``playbooks/lab.yml``: the lab comes up and generates its secrets.
2. ``remediate.yml --check``: the audit of the incident (fails: exit 2).
3. ``remediate.yml``: ``hok`` is remediated; ``hbad`` is remediated, then its
   verification fails (its HTTP probes send a Host header outside the api's
   ALLOWED_HOSTS, so every answer is 400) and the rescue rolls it back.
4. ``playbooks/rollback.yml`` on ``hok``: back to the pre-remediation backup.
5. ``playbooks/rollback.yml`` on ``hbad`` with a backup that does not exist (fails).
6. ``remediate.yml`` with a bad input on ``hbad`` (fails in validation).

Collected: stdout and stderr of every run (ansible-runner reads both from
the pty), the runner's event files (every task result as JSON), the Ansible
log file, every report under the report directory and each host's
remediation log. None may contain a lab secret: plain, percent-encoded
(``quote(pw, safe='')`` and ``quote(pw)``) or ``quote_plus``-encoded. The env
file and the backups must be 0600, the backup directories 0700.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from tests.helpers.lab import LabHost, Run, lab_down, lab_secrets, make_inventory, run_playbook
from tests.integration.conftest import final_message

pytestmark = [pytest.mark.lab, pytest.mark.slow]

VERBOSE = "-vvv --diff"
SECRET_KEYS = ("copilotos_redis_password", "copilotos_mongo_password", "copilotos_lab_saptiva_api_key",
               "copilotos_lab_jwt_secret")


@dataclass
class Hygiene:
    inventory: Path
    work: Path
    hosts: dict[str, LabHost]
    runs: dict[str, Run] = field(default_factory=dict)

    def run(self, key: str, playbook: str, cmdline: str = "", extravars: dict[str, object] | None = None) -> Run:
        result = run_playbook(playbook, self.inventory, self.work, cmdline=("%s %s" % (VERBOSE, cmdline)).strip(),
                              extravars=extravars, envvars={"ANSIBLE_LOG_PATH": str(self.work / "ansible.log")})
        self.runs[key] = result
        return result


@pytest.fixture(scope="module")
def hygiene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hygiene]:
    work = tmp_path_factory.mktemp("hygiene")
    inventory, hosts = make_inventory(work, ["hok", "hbad"], extra_group_vars={
        "copilotos_report_dir": str(work / "reports"), "copilotos_verify_watch_seconds": 2})
    h = Hygiene(inventory, work, {host.name: host for host in hosts})
    try:
        up = h.run("lab", "playbooks/lab.yml")
        assert up.rc == 0, up.stdout[-3000:]
        audit = h.run("audit", "remediate.yml", "--check")
        assert audit.rc == 2, audit.stdout[-3000:]
        (inventory / "host_vars" / "hbad" / "fault.yml").write_text(
            "---\n# The HTTP probes send a Host outside the api's ALLOWED_HOSTS: every answer is 400,"
            " so verification fails.\n"
            "copilotos_verify_host_header: not-allowed.example.com\n")
        remediate = h.run("remediate", "remediate.yml", extravars={"copilotos_serial": 0})
        (inventory / "host_vars" / "hbad" / "fault.yml").unlink()
        assert remediate.failed("hok") == 0 and remediate.changed("hok") > 0, remediate.stdout[-3000:]
        assert remediate.failed("hbad") == 1 and " - rolled back to " in final_message(remediate, "hbad")
        rollback = h.run("rollback", "playbooks/rollback.yml", "--limit hok")
        assert rollback.rc == 0 and rollback.changed("hok") > 0, rollback.stdout[-3000:]
        missing = h.run("rollback_missing", "playbooks/rollback.yml", "--limit hbad",
                        extravars={"copilotos_rollback_backup": str(work / "no-such-backup")})
        assert missing.rc != 0 and missing.failed("hbad") == 1, missing.stdout[-3000:]
        invalid = h.run("invalid", "remediate.yml", "--limit hbad",
                        extravars={"copilotos_env_db_max_pool_size": "many"})
        assert invalid.rc == 2 and "copilotos_env_db_max_pool_size" in final_message(invalid, "hbad")
        yield h
    finally:
        lab_down(inventory, work)


def secret_forms(inventory: Path, hosts: list[str]) -> dict[str, str]:
    """label -> secret text; labels name the variable and the encoding, never the value."""
    forms = {}
    for host in hosts:
        secrets = lab_secrets(inventory, host)
        for key in SECRET_KEYS:
            value = str(secrets[key])
            assert len(value) >= 8
            for how, text in (("plain", value), ("pct", quote(value, safe="")), ("pct/", quote(value)),
                              ("plus", quote_plus(value))):
                forms["%s %s %s" % (host, key, how)] = text
    return forms


def collected(h: Hygiene) -> dict[str, str]:
    """name -> text of everything the runs produced outside the env files and backups."""
    out = {"stdout of %s" % key: run.stdout for key, run in h.runs.items()}
    for artifact in sorted(h.work.glob("runner-*/artifacts/**/*")):
        if artifact.is_file():
            out[str(artifact.relative_to(h.work))] = artifact.read_text(errors="replace")
    out["ansible.log"] = (h.work / "ansible.log").read_text(errors="replace")
    for path in sorted((h.work / "reports").rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(h.work))] = path.read_text(errors="replace")
    for host in h.hosts.values():
        out["%s remediation log" % host.name] = (host.project_dir / ".copilotos-remediation.log").read_text()
    return out


def test_every_run_took_its_path(hygiene: Hygiene) -> None:
    assert set(hygiene.runs) == {"lab", "audit", "remediate", "rollback", "rollback_missing", "invalid"}
    for key, run in hygiene.runs.items():
        # -vvv names the inventory plugin that parsed the inventory; a run that never reaches a host (the
        # invalid input is refused on the controller, the reports are written by an action plugin) opens no
        # connection, so "ESTABLISH LOCAL CONNECTION" is only in the others.
        assert " inventory source with " in run.stdout, "%s: not a -vvv run" % key
        if key != "invalid":
            assert "ESTABLISH LOCAL CONNECTION" in run.stdout, "%s: reached no host" % key
    assert "--- before" in hygiene.runs["remediate"].stdout, "not a --diff run with a change"


def test_no_secret_in_any_output(hygiene: Hygiene) -> None:
    texts = collected(hygiene)
    assert len(texts) > 20 and texts["ansible.log"], sorted(texts)
    reports = [name for name in texts if name.startswith("reports/")]
    assert any(name.endswith(".json") for name in reports) and any(name.endswith(".html") for name in reports)
    leaks = [(label, name) for label, secret in secret_forms(hygiene.inventory, list(hygiene.hosts)).items()
             for name, text in texts.items() if secret in text]
    assert leaks == [], "secret found (variable, encoding) -> where: %s" % leaks[:20]


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_env_file_and_backups_are_private(hygiene: Hygiene) -> None:
    seen = 0
    for host in hygiene.hosts.values():
        assert mode(host.env_file) == "0o600"
        assert mode(host.project_dir / ".copilotos-remediation.log") == "0o600"
        root = host.project_dir / ".copilotos-backups"
        assert mode(root) == "0o700"
        for backup in root.iterdir():
            if backup.suffix == ".json":  # the manifest next to each backup directory
                assert backup.is_file() and mode(backup) == "0o600", backup
                assert (root / backup.stem).is_dir(), "a manifest without its backup: %s" % backup
                continue
            assert backup.is_dir() and mode(backup) == "0o700", backup
            for item in backup.iterdir():
                assert item.is_file() and mode(item) == "0o600", item
                seen += 1
    assert seen >= 4, "expected the backups of both hosts' remediation"
