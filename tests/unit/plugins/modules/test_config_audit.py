"""config_audit's preflight facet: libraries, project directory, env file type, override ownership.

These paths stop before the Docker engine is contacted, so they run without one;
the audit itself is driven against the real lab in tests/integration.
"""

from __future__ import annotations

from pathlib import Path

import config_audit
import pytest

from tests.unit.plugins.modules.conftest import ModuleRunner


def args(project: Path, **extra: object) -> dict[str, object]:
    return dict(
        path=project / ".env.production",
        project_dir=project,
        project_name="t-unit",
        override_file=project / "docker-compose.override.yml",
        **extra,
    )


def test_a_missing_library_stops_the_audit_and_is_named(tmp_path: Path, run_module: ModuleRunner) -> None:
    result = run_module(config_audit.main, **args(tmp_path, required_libs=["json", "no_such_lib_copilotos"]))
    assert result["inspected"] is False and not result.get("failed")
    assert [lib["name"] for lib in result["missing_libs"]] == ["no_such_lib_copilotos"]
    assert "No module named 'no_such_lib_copilotos'" in result["missing_libs"][0]["error"]


def test_a_missing_project_directory_is_reported_not_created(tmp_path: Path, run_module: ModuleRunner) -> None:
    project = tmp_path / "gone"
    result = run_module(config_audit.main, **args(project))
    assert result["inspected"] is False and result["project"]["dir_exists"] is False
    assert not project.exists()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("missing", "missing"), ("directory", "directory"), ("symlink", "symlink"), ("fifo", "special")],
)
def test_the_env_file_must_be_a_regular_file(
    tmp_path: Path, run_module: ModuleRunner, kind: str, expected: str
) -> None:
    env = tmp_path / ".env.production"
    outside = tmp_path.parent / ("outside-%s.env" % tmp_path.name)
    if kind == "directory":
        env.mkdir()
    elif kind == "symlink":
        outside.write_text("A=1\n")
        env.symlink_to(outside)
    elif kind == "fifo":
        import os

        os.mkfifo(env)
    result = run_module(config_audit.main, **args(tmp_path))
    assert result["inspected"] is False
    facts = result["project"]["env_file"]
    assert facts["type"] == expected and facts["path"] == str(env)
    assert facts["link_target"] == (str(outside) if kind == "symlink" else None)


@pytest.mark.parametrize(
    ("content", "managed"),
    [(None, None), ("# copilotos-remediation\nservices: {}\n", True), ("services:\n  api: {}\n", False)],
)
def test_override_ownership(tmp_path: Path, content: str | None, managed: bool | None) -> None:
    override = tmp_path / "docker-compose.override.yml"
    if content is not None:
        override.write_text(content)
    text = config_audit.read_text(str(override))
    facts = config_audit.project_facts(
        str(tmp_path), str(tmp_path / ".env"), str(override), text, "copilotos-remediation"
    )
    assert facts["override"] == {"path": str(override), "exists": content is not None, "managed": managed}
