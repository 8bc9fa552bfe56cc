"""rulebooks/copilotos.yml: valid for ansible-rulebook, throttled per host, wired to the watch playbooks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULEBOOK = ROOT / "rulebooks" / "copilotos.yml"

rules_parser = pytest.importorskip("ansible_rulebook.rules_parser")
validators = pytest.importorskip("ansible_rulebook.validators")


def load() -> list[dict[str, Any]]:
    return yaml.safe_load(RULEBOOK.read_text())  # type: ignore[no-any-return]


def test_rulebook_is_valid_and_parses() -> None:
    data = load()
    validators.Validate.rulebook(data)
    rulesets = rules_parser.parse_rule_sets(load(), {"copilotos_watch_root": str(ROOT)})
    assert [rs.name for rs in rulesets] == ["Copilotos | watch the api logs"]
    assert rulesets[0].sources[0].source_name == "copilotos_docker_logs"


def test_actions_are_throttled_per_host_and_run_the_watch_playbooks() -> None:
    rules = {rule["name"]: rule for rule in load()[0]["rules"]}
    audit = rules["Audit the host on a Redis or Mongo signature"]
    remediate = rules["Remediate the host when its audit found critical causes"]
    assert audit["throttle"] == {"once_within": "10 minutes", "group_by_attributes": ["event.host"]}
    assert remediate["throttle"]["group_by_attributes"] == ["event.copilotos_watch_verdict.host"]
    assert remediate["throttle"]["once_within"] == audit["throttle"]["once_within"]
    runs = {name: [a["run_playbook"] for a in rule.get("actions", []) if "run_playbook" in a]
            for name, rule in rules.items()}
    assert runs[audit["name"]][0]["name"].endswith("/playbooks/watch_audit.yml")
    assert runs[audit["name"]][0]["post_events"] is True
    assert runs[remediate["name"]][0]["name"].endswith("/playbooks/watch_remediate.yml")
    # Only throttled rules run playbooks: a crash loop cannot drive a restart loop.
    for name, rule in rules.items():
        if runs[name]:
            assert "throttle" in rule, name
    for playbook in ("watch_audit.yml", "watch_remediate.yml", "watch_targets.yml"):
        assert (ROOT / "playbooks" / playbook).is_file()
    assert (ROOT / "extensions" / "eda" / "plugins" / "event_source" / "copilotos_docker_logs.py").is_file()


def test_audit_hands_its_verdict_back_with_the_host_limit() -> None:
    plays = yaml.safe_load((ROOT / "playbooks" / "watch_audit.yml").read_text())
    stats = [t["ansible.builtin.set_stats"] for p in plays for t in p.get("tasks", [])
             if "ansible.builtin.set_stats" in t]
    assert len(stats) == 1
    assert set(stats[0]["data"]) == {"copilotos_watch_verdict", "meta"}
    assert stats[0]["data"]["meta"] == {"hosts": "{{ inventory_hostname }}"}
    audit = next(p for p in plays if "ansible.builtin.import_playbook" in p)
    assert audit["vars"] == {"copilotos_audit_only": True, "copilotos_audit_fail_on": "never"}


def test_targets_carry_each_hosts_docker_engine(tmp_path: Path) -> None:
    # playbooks/watch_targets.yml on the controller only (no Docker, no host
    # contacted): each host's copilotos_watch_docker_host goes into its target,
    # '' (the controller's own engine) for a host without one.
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"copilotos": {"vars": {"ansible_connection": "local"}, "hosts": {
        "prod1": {"copilotos_compose_project": "copilotos", "copilotos_watch_docker_host": "tcp://10.0.0.1:2375",
                  "ansible_connection": "ssh", "ansible_host": "192.0.2.1"},
        "lab1": {"copilotos_compose_project": "copilotos-lab1", "copilotos_env_api_service": "backend"}}}}))
    out = tmp_path / "vars.yml"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               PATH="%s:%s" % (ROOT / ".venv" / "bin", os.environ.get("PATH", "")))
    result = subprocess.run(["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks" / "watch_targets.yml"),
                             "-e", "copilotos_watch_vars_file=%s" % out], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    written = yaml.safe_load(out.read_text())
    assert sorted(written["copilotos_watch_targets"], key=lambda t: t["host"]) == [
        {"host": "lab1", "project": "copilotos-lab1", "service": "backend", "docker_host": ""},
        {"host": "prod1", "project": "copilotos", "service": "api", "docker_host": "tcp://10.0.0.1:2375"}]
    assert "copilotos_watch_docker_host" not in written  # no host's engine becomes everyone's default
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_make_watch_runs_the_script_with_the_window_and_inventory() -> None:
    # A make of its own: under `make test` the parent's MAKEFLAGS and MAKELEVEL would add its
    # "Entering directory" lines and flags.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    result = subprocess.run(["make", "--no-print-directory", "-n", "watch", "INVENTORY=inventory/production",
                             "WATCH_WINDOW=30 minutes"], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == ["scripts/setup-toolchain.sh",
                     'COPILOTOS_WATCH_WINDOW="30 minutes" scripts/watch.sh inventory/production'], lines
