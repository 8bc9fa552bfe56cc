"""execution-environment.yml gives ansible-builder a valid build context, offline.

``ansible-builder create`` validates the definition against the v3 schema and
writes the Containerfile and the ``_build`` directory without pulling the base
image, so this runs without a registry. The image build itself needs one (the
base image) and is documented in docs/awx.md, not run here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / ".venv" / "bin" / "ansible-builder"


def create(context: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH="%s:%s" % (ROOT / ".venv" / "bin", os.environ.get("PATH", "/usr/bin:/bin")))
    return subprocess.run(
        [
            str(BUILDER),
            "create",
            "--file",
            "execution-environment.yml",
            "--context",
            str(context),
            "--output-filename",
            "Containerfile",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_definition_is_schema_v3_with_pinned_core() -> None:
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    runtime = (ROOT / "requirements" / "runtime.txt").read_text()
    assert ee["version"] == 3
    assert ee["images"]["base_image"]["name"]
    assert ee["dependencies"]["python"] == "requirements/runtime.txt"
    # The image runs the same ansible-core and runner as the controller venv.
    assert ee["dependencies"]["ansible_core"]["package_pip"] in runtime
    assert ee["dependencies"]["ansible_runner"]["package_pip"] in runtime


def test_create_writes_a_build_context_offline(tmp_path: Path) -> None:
    context = tmp_path / "ee"
    result = create(context)
    assert result.returncode == 0, result.stdout + result.stderr

    containerfile = (context / "Containerfile").read_text()
    assert "ARG EE_BASE_IMAGE=" in containerfile
    assert "ansible-core==2.19.14" in containerfile
    # The python requirements go through the builder's introspection.
    assert "COPY _build/requirements.txt requirements.txt" in containerfile
    assert "--user-pip=requirements.txt" in containerfile
    built_requirements = (context / "_build" / "requirements.txt").read_text()
    for pin in ("docker==", "redis==", "pymongo==", "jinja2=="):
        assert pin in built_requirements
    assert "openssh-clients" in (context / "_build" / "bindep.txt").read_text()

    # The project's content, copied into the context and into the image.
    build = context / "_build" / "copilotos"
    for relative in (
        "ansible.cfg",
        "remediate.yml",
        "playbooks/audit.yml",
        "playbooks/rollback.yml",
        "roles/copilotos_env/tasks/apply.yml",
        "library/env_file.py",
        "plugins/module_utils/copilotos_common.py",
        "plugins/callback/copilotos_summary.py",
        "requirements/runtime.txt",
    ):
        assert (build / relative).is_file(), relative
    assert "COPY _build/copilotos/ /usr/share/ansible/copilotos/" in containerfile
    # The copied ansible.cfg resolves its relative paths next to itself.
    assert "roles_path = roles" in (build / "ansible.cfg").read_text()
    # No lab secret or report goes into an image.
    assert not list(context.rglob("lab_secrets.yml"))
    assert not list(context.rglob("reports"))


def test_navigator_uses_the_local_image_without_artifacts() -> None:
    nav = yaml.safe_load((ROOT / "ansible-navigator.yml").read_text())["ansible-navigator"]
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert nav["execution-environment"]["enabled"] is True
    assert nav["execution-environment"]["image"] in ee["options"]["tags"]
    assert nav["execution-environment"]["pull"]["policy"] in ("never", "missing")
    assert nav["mode"] == "stdout"
    assert nav["playbook-artifact"]["enable"] is False
