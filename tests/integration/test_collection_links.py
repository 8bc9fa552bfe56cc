"""The checkout serves its controller code as the collection copilotos.remediation (no Docker).

The action, filter and lookup plugins import the module_utils by the
collection's name. ``collections/`` links back to the checkout under that
name; ansible.cfg lists it, and it is the playbook-adjacent collections
directory of remediate.yml and (through ``playbooks/collections``) of the
playbooks in playbooks/, which Ansible searches whatever
ANSIBLE_COLLECTIONS_PATH says. The run below hides every configured
collections path, as AWX's own setting does, and still gets its report
written by the report action, which imports the module_utils that way.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from tests.helpers.lab import LAB_GROUP_VARS

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
LINK = ROOT / "collections" / "ansible_collections" / "copilotos" / "remediation"


def test_the_links_point_back_at_the_checkout() -> None:
    for name, target in (("plugins", ROOT / "plugins"), ("extensions", ROOT / "extensions"),
                         ("galaxy.yml", ROOT / "collection" / "galaxy.yml"), ("meta", ROOT / "collection" / "meta")):
        assert (LINK / name).is_symlink(), name
        assert (LINK / name).resolve() == target.resolve(), name
    assert (ROOT / "playbooks" / "collections").resolve() == (ROOT / "collections").resolve()
    # Relative links: a clone anywhere resolves them to itself.
    assert not os.path.isabs(os.readlink(LINK / "plugins"))
    assert not os.path.isabs(os.readlink(ROOT / "playbooks" / "collections"))


def test_a_playbook_of_playbooks_finds_the_collection_with_the_collections_path_hidden(tmp_path: Path) -> None:
    project = tmp_path / "no-such-project"
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "copilotos").mkdir(parents=True)
    (inventory / "group_vars" / "copilotos" / "main.yml").write_text(
        (LAB_GROUP_VARS / "copilotos" / "main.yml").read_text())
    host = {"ansible_connection": "local", "ansible_python_interpreter": str(BIN / "python"),
            "copilotos_project_dir": str(project), "copilotos_compose_project": "t-links",
            "copilotos_api_port": 1, "copilotos_redis_password": "not-a-real-password-42"}
    (inventory / "hosts.yml").write_text("---\n" + yaml.safe_dump({"copilotos": {"hosts": {"links": host}}}))
    empty = tmp_path / "no-collections"
    empty.mkdir()
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(empty),
               ANSIBLE_NOCOLOR="1", PATH="%s:%s" % (BIN, os.environ.get("PATH", "")))
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/audit.yml",
                           "-e", "copilotos_report_dir=%s" % (tmp_path / "reports")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "copilotos_project_dir %s does not exist on links" % project in output, output
    assert "No filter named" not in output and "ansible_collections" not in output, output
    reports = [p for p in (tmp_path / "reports").glob("*/links.json") if not p.parent.is_symlink()]
    assert len(reports) == 1, output
    report = json.loads(reports[0].read_text())
    assert report["host"] == "links" and report["result"] == "refused", report
    assert not project.exists()
