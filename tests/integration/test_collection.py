"""The collection artifact: built, installed offline, used by its full names.

``scripts/build_collection.py`` (``make collection``) builds
``copilotos.remediation`` from the repository; these tests install the tarball
with ``ansible-galaxy collection install`` into a temporary collections path
(no Galaxy server) and use only that installed copy, from a directory without
the repository's ansible.cfg: ``ansible-doc`` of every module by its full name,
a module run by its full name on a local file, and the playbook
``copilotos.remediation.remediate`` refusing a placeholder password on the
controller, through the collection's roles, action, lookup and summary callback.
No Docker: the refusal happens before any host is touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FQCN = "copilotos.remediation"
MODULES = sorted(p.stem for p in (ROOT / "library").glob("*.py"))
PLAYBOOKS = ["remediate", "audit", "bootstrap", "rollback"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("collection")
    built = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_collection.py"), "--output-dir",
                            str(tmp / "dist")], capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    tarball = Path(built.stdout.strip())
    assert tarball.name == "copilotos-remediation-%s.tar.gz" % yaml.safe_load(
        (ROOT / "collection" / "galaxy.yml").read_text())["version"]
    installed = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--offline", str(tarball),
                                "-p", str(tmp / "collections")], capture_output=True, text=True, check=False,
                               cwd=tmp, env=ansible_env(tmp / "collections"))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    root = tmp / "collections" / "ansible_collections" / "copilotos" / "remediation"
    assert (root / "MANIFEST.json").is_file()
    return {"tmp": tmp, "tarball": tarball, "root": root, "collections": tmp / "collections"}


def ansible_env(collections: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(PATH="%s:%s" % (BIN, env.get("PATH", "")), ANSIBLE_COLLECTIONS_PATH=str(collections),
               ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="false")
    return env


def run(collection: dict[str, Path], *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """An Ansible command from a directory with no ansible.cfg, seeing only the installed collection."""
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, check=False,
                          cwd=collection["tmp"], env=dict(ansible_env(collection["collections"]), **env), timeout=300)


def test_the_tarball_has_the_collection_layout(collection: dict[str, Path]) -> None:
    with tarfile.open(collection["tarball"]) as tar:
        names = set(tar.getnames())
    for module in MODULES:
        assert "plugins/modules/%s.py" % module in names
    for path in ("MANIFEST.json", "meta/runtime.yml", "README.md", "CHANGELOG.md",
                 "plugins/action/copilotos_plan.py", "plugins/callback/copilotos_summary.py",
                 "plugins/filter/copilotos.py", "plugins/lookup/copilotos_controller.py",
                 "plugins/module_utils/copilotos_env.py", "roles/copilotos_env/meta/argument_specs.yml",
                 "requirements/target.txt", "docs/variables.md"):
        assert path in names, path
    for playbook in PLAYBOOKS:
        assert "playbooks/%s.yml" % playbook in names
    # The lab is the repository's test fixture, not part of the collection.
    assert not any(n.startswith(("roles/copilotos_lab", "lab/")) or n == "playbooks/lab.yml" for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_python_imports_the_collections_module_utils(collection: dict[str, Path]) -> None:
    for path in sorted((collection["root"] / "plugins").rglob("*.py")):
        text = path.read_text()
        assert "from ansible.module_utils.copilotos_" not in text, path
        assert "from ansible.module_utils import copilotos_" not in text, path
    env_file = (collection["root"] / "plugins" / "modules" / "env_file.py").read_text()
    assert "from ansible_collections.copilotos.remediation.plugins.module_utils.copilotos_env import" in env_file


def test_ansible_doc_of_every_module_by_its_full_name(collection: dict[str, Path]) -> None:
    names = ["%s.%s" % (FQCN, m) for m in MODULES]
    result = run(collection, "ansible-doc", "--json", *names)
    assert result.returncode == 0, result.stderr
    docs = json.loads(result.stdout)
    assert sorted(docs) == sorted(names)
    for name, doc in docs.items():
        assert doc["doc"]["short_description"], name
        assert doc["doc"]["collection"] == FQCN, name
    for kind, name in (("lookup", "copilotos_controller"), ("callback", "copilotos_summary")):
        result = run(collection, "ansible-doc", "-t", kind, "%s.%s" % (FQCN, name))
        assert result.returncode == 0, (kind, name, result.stderr)
    filters = sorted(p.stem for p in (ROOT / "plugins" / "filter").glob("*.yml"))
    assert filters == ["copilotos_env_value", "copilotos_mongo_url", "copilotos_redis_url", "copilotos_urlquote"]
    result = run(collection, "ansible-doc", "-t", "filter", "--json", *("%s.%s" % (FQCN, f) for f in filters))
    assert result.returncode == 0, result.stderr
    for name, doc in json.loads(result.stdout).items():
        assert doc["doc"]["short_description"] and doc["examples"], name


def test_a_module_runs_by_its_full_name(collection: dict[str, Path]) -> None:
    env = collection["tmp"] / "app.env"
    env.write_text("# kept\nREDIS_HOST=localhost\nOTHER=1\n")
    args = json.dumps({"path": str(env), "values": {"REDIS_HOST": "redis"}, "backup": False})
    result = run(collection, "ansible", "localhost", "-m", "%s.env_file" % FQCN, "-a", args,
                 "-e", "ansible_python_interpreter=%s" % sys.executable)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CHANGED" in result.stdout
    assert env.read_text() == "# kept\nREDIS_HOST=redis\nOTHER=1\n"


def test_the_filters_resolve_by_their_full_name(collection: dict[str, Path]) -> None:
    # copilotos_env_value imports the env-file rules from the collection's module_utils.
    expr = "{{ 'a b' | %s.copilotos_env_value }} {{ 'p@ss' | %s.copilotos_urlquote }}" % (FQCN, FQCN)
    result = run(collection, "ansible", "localhost", "-m", "ansible.builtin.debug", "-a", json.dumps({"msg": expr}))
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"msg": "\'a b\' p%40ss"' in result.stdout, result.stdout


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_every_playbook_resolves_by_its_full_name(collection: dict[str, Path], playbook: str) -> None:
    result = run(collection, "ansible-playbook", "--syntax-check", "-i", "localhost,", "%s.%s" % (FQCN, playbook))
    assert result.returncode == 0, result.stdout + result.stderr


def test_remediate_refuses_a_placeholder_password_through_the_collection(collection: dict[str, Path]) -> None:
    tmp = collection["tmp"]
    project, reports = tmp / "project", tmp / "reports"
    inventory = tmp / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"copilotos": {"hosts": {"h1": {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "copilotos_project_dir": str(project),
        "copilotos_redis_password": "CHANGE-ME-not-a-password",
        "copilotos_report_dir": str(reports),
    }}}}))
    result = run(collection, "ansible-playbook", "-i", str(inventory), "%s.remediate" % FQCN,
                 ANSIBLE_CALLBACKS_ENABLED="%s.copilotos_summary" % FQCN)
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    # The collection's action plugin refused on the controller ...
    assert "copilotos_redis_password is still the example vault's placeholder" in out
    assert "TASK [%s.copilotos_env : plan | Validate the inputs and build the plan]" % FQCN in out
    # ... nothing reached the host ...
    assert not project.exists()
    # ... and the record (the collection's lookup), report (module) and summary (callback) still ran.
    assert "COPILOTOS SUMMARY" in out
    report = reports / "latest" / "h1.json"
    data = json.loads(report.read_text())
    assert "CHANGE-ME-not-a-password" not in report.read_text()
    assert data["host"] == "h1"
