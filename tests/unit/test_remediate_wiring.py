"""remediate.yml calls copilotos_notify and copilotos_metrics at the right points, and only there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def main_block() -> dict[str, Any]:
    play = yaml.safe_load((ROOT / "remediate.yml").read_text(encoding="utf-8"))[0]
    return next(task for task in play["tasks"] if "block" in task)


def role_of(task: dict[str, Any]) -> tuple[str | None, str | None]:
    for key in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
        if key in task:
            return task[key]["name"], task[key].get("tasks_from")
    return None, None


def conditions(task: dict[str, Any]) -> str:
    when = task.get("when", [])
    return " and ".join(when if isinstance(when, list) else [when])


def test_the_before_notification_comes_right_before_the_apply_step_of_a_changing_run() -> None:
    block = main_block()["block"]
    roles = [role_of(task) for task in block]
    at = roles.index(("copilotos_notify", "before.yml"))
    assert roles[at + 1] == ("copilotos_apply", None), "announced right before the recreate"
    assert roles.index(("copilotos_env", "apply.yml")) < at, "after the write, so the keys are known"


def test_the_announcement_and_the_apply_step_read_the_one_recreate_decision() -> None:
    # The apply stage decides once (copilotos_recreating); the playbook does not restate the rule.
    block = main_block()["block"]
    roles = [role_of(task) for task in block]
    decide = roles.index(("copilotos_apply", "decide.yml"))
    before = roles.index(("copilotos_notify", "before.yml"))
    apply = roles.index(("copilotos_apply", None))
    assert roles.index(("copilotos_env", "apply.yml")) < decide < before < apply, "decided after the write"
    for at in (before, apply):
        when = conditions(block[at])
        assert "copilotos_recreating" in when
        for restated in ("copilotos_write", "drift.recreate", "copilotos_apply_recreate", "copilotos_changing"):
            assert restated not in when, (roles[at], restated)


def test_the_outcome_and_the_metrics_are_in_always_after_the_reports() -> None:
    section = main_block()
    always = [role_of(task) for task in section["always"]]
    report = always.index(("copilotos_report", None))
    after = always.index(("copilotos_notify", "after.yml"))
    metrics = always.index(("copilotos_metrics", None))
    assert report < after and report < metrics
    assert "copilotos_changing" in conditions(section["always"][after]), "only runs that changed or tried to"
    assert "copilotos_refused" in conditions(section["always"][metrics]), "a refused run must not write metrics"
    assert all(role_of(task)[0] not in ("copilotos_notify", "copilotos_metrics") for task in section["rescue"])


def assert_checked_by_the_role_only(setting: str, role: str, files: list[Path], expected: str) -> None:
    """``setting`` has one check, in ``expected`` of ``role``: the playbook never restates it, and validates the
    role's settings up front, before the state read."""
    section = main_block()
    for task in section["block"] + section["always"]:
        assert setting not in conditions(task), task["name"]
    roles = [role_of(task) for task in section["block"]]
    assert roles.index((role, "validate")) < roles.index(("copilotos_preflight", None))
    checks = [path.name for path in files if "%s |" % setting in path.read_text(encoding="utf-8")]
    assert checks == [expected], checks


def test_the_metrics_setting_is_checked_by_the_role_only() -> None:
    # Whether a textfile is asked for (copilotos_metrics_textfile_dir) is said once, in the role's textfile.yml;
    # the playbook includes the role for every run that was not refused.
    tasks = ROOT / "roles" / "copilotos_metrics" / "tasks"
    assert_checked_by_the_role_only("copilotos_metrics_textfile_dir", "copilotos_metrics",
                                    sorted(tasks.glob("*.yml")), "textfile.yml")


def test_the_webhook_setting_is_checked_by_the_role_only() -> None:
    # copilotos_notify_url has one check, in roles/copilotos_notify (vars/main.yml): the playbook includes the
    # role at its points of the run, and validates its settings up front whether or not a URL is set (every
    # include of before.yml or after.yml validates them again, and must not fail late in the run).
    role = ROOT / "roles" / "copilotos_notify"
    assert_checked_by_the_role_only("copilotos_notify_url", "copilotos_notify",
                                    [*sorted((role / "tasks").glob("*.yml")), role / "vars" / "main.yml"], "main.yml")


def test_the_metrics_role_knows_an_audit_by_the_run_mode_alone() -> None:
    # copilotos_run.mode is the run's one representation of an audit (docs/report-schema.md).
    textfile = ROOT / "roles" / "copilotos_metrics" / "tasks" / "textfile.yml"
    tasks = yaml.safe_load(textfile.read_text(encoding="utf-8"))
    write = next(task for task in tasks if "metrics_textfile" in task)
    when = conditions(write)
    assert "copilotos_run.mode != 'audit'" in when
    assert "ansible_check_mode" not in when and "check_mode" not in when.replace("copilotos_metrics_in_audit", "")
    assert "vars" not in write
