#!/usr/bin/env python3
"""Build the collection copilotos.remediation from this repository (make collection).

The repository keeps its own layout (library/, plugins/, roles/, remediate.yml,
playbooks/); this script assembles a staging tree with the collection layout
and runs ``ansible-galaxy collection build`` on it:

    plugins/modules/      <- library/*.py
    plugins/<kind>/       <- plugins/{action,callback,doc_fragments,filter,lookup,module_utils}/*.py
                             (and the filters' ansible-doc files, plugins/filter/*.yml)
    extensions/eda/plugins/event_source/ <- the same (the rulebook's Docker-log source)
    roles/                <- roles/ (all but copilotos_lab, see LAB_ONLY)
    playbooks/            <- remediate.yml, playbooks/*.yml (but lab.yml)
    docs/, README.md, requirements/target.txt (roles/copilotos_venv installs it)
    galaxy.yml, meta/runtime.yml, CHANGELOG.md <- collection/

What differs from the sources, in the staging copy only:

* The modules' imports of the project's module_utils: ``ansible.module_utils.copilotos_X``
  (how Ansible's loader serves ``module_utils = plugins/module_utils`` to the
  repository's modules) becomes
  ``ansible_collections.copilotos.remediation.plugins.module_utils.copilotos_X``,
  the only name a collection's module_utils has. The module_utils import each
  other relatively, and the controller plugins and the event source import them
  by the collection's name already (ansible.cfg's collections_path serves the
  checkout under that name), so those lines are copied unchanged.
* The modules' doc fragments (``extends_documentation_fragment: - copilotos_docker``,
  found through ansible.cfg's ``doc_fragment_plugins`` in the repository) get the
  collection's name, which is the only way a collection's module names its fragments.
* Jinja references to the project's lookups and filters in roles and playbooks
  (``lookup('copilotos_controller')``, ``| copilotos_env_value``) get the
  collection's name (``copilotos.remediation.``): Ansible resolves modules and
  action plugins by short name inside a collection's roles, but not lookups or filters.
* playbooks/audit.yml imports ``../remediate.yml``, which sits beside it in the collection.
* the lab (role copilotos_lab, playbook lab.yml) is left out: it builds the lab
  image from lab/image/, a test fixture of this repository, not part of the collection.

Everything else is byte for byte the repository's. Modules, roles and plugins
called by short name inside the collection's roles and playbooks resolve
there, because Ansible searches a role's or playbook's own collection first.

Usage: scripts/build_collection.py [--output-dir dist] [--staging DIR]
Prints the path of the built tarball.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "copilotos.remediation"
COLLECTION = "ansible_collections.%s.plugins.module_utils" % NAMESPACE
PLUGIN_KINDS = ("action", "callback", "doc_fragments", "filter", "lookup", "module_utils")
LAB_ONLY_ROLES = ("copilotos_lab",)
LAB_ONLY_PLAYBOOKS = ("lab.yml",)

# from ansible.module_utils.copilotos_x import ...   /   from ansible.module_utils import copilotos_x
_IMPORT_RE = re.compile(
    r"^(?P<lead>\s*from\s+)ansible\.module_utils(?P<rest>\.copilotos_\w+\s+import\b|\s+import\s+copilotos_\w+)",
    re.MULTILINE)


# "  - copilotos_docker" / "  - copilotos_docker.compose" in extends_documentation_fragment
_FRAGMENT_RE = re.compile(r"^(?P<lead>\s*-\s+)(?P<name>copilotos_\w+(?:\.\w+)?)\s*$", re.MULTILINE)


def rewrite_imports(text: str) -> str:
    """Point the project's module_utils imports at the collection's module_utils, and its doc fragments
    (found through ansible.cfg's doc_fragment_plugins in the repository) at the collection's."""
    text = _IMPORT_RE.sub(lambda m: m.group("lead") + COLLECTION + m.group("rest"), text)
    return _FRAGMENT_RE.sub(lambda m: "%s%s.%s" % (m.group("lead"), NAMESPACE, m.group("name")), text)


def jinja_plugins() -> tuple[list[str], list[str]]:
    """The names of the project's lookups (file names) and filters (keys of FilterModule.filters)."""
    lookups = sorted(p.stem for p in (ROOT / "plugins" / "lookup").glob("*.py"))
    filters = sorted({name for p in (ROOT / "plugins" / "filter").glob("*.py")
                      for name in re.findall(r'^\s*"(\w+)":\s', p.read_text(), re.MULTILINE)})
    return lookups, filters


def rewrite_jinja(text: str, lookups: list[str], filters: list[str]) -> str:
    """Give the project's lookups and filters their collection name in a task file or template."""
    for name in lookups:
        text = re.sub(r"\b(lookup|query|q)\((\s*)(['\"])%s\3" % name,
                      lambda m, n=name: "%s(%s%s%s.%s%s" % (m.group(1), m.group(2), m.group(3), NAMESPACE, n,
                                                            m.group(3)),
                      text)
    for name in filters:
        text = re.sub(r"\|(\s*)%s\b" % name, lambda m, n=name: "|%s%s.%s" % (m.group(1), NAMESPACE, n), text)
    return text


def copy_jinja_tree(src: Path, dst: Path) -> None:
    """Copy a role, rewriting the Jinja plugin references of its YAML files and templates."""
    lookups, filters = jinja_plugins()
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in sorted(dst.rglob("*")):
        if path.is_file() and path.suffix in (".yml", ".yaml", ".j2"):
            text = path.read_text()
            new = rewrite_jinja(text, lookups, filters)
            if new != text:
                path.write_text(new)


def copy_python(src: Path, dst: Path) -> None:
    """Copy a plugin directory: its Python files (imports rewritten) and its YAML docs (the filters')."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.py")):
        (dst / path.name).write_text(rewrite_imports(path.read_text()))
    for path in sorted(src.glob("*.yml")):
        shutil.copy2(path, dst / path.name)


def stage(staging: Path) -> None:
    shutil.copy2(ROOT / "collection" / "galaxy.yml", staging / "galaxy.yml")
    shutil.copytree(ROOT / "collection" / "meta", staging / "meta")
    shutil.copy2(ROOT / "collection" / "CHANGELOG.md", staging / "CHANGELOG.md")
    shutil.copy2(ROOT / "README.md", staging / "README.md")
    shutil.copytree(ROOT / "docs", staging / "docs")
    (staging / "requirements").mkdir()
    shutil.copy2(ROOT / "requirements" / "target.txt", staging / "requirements" / "target.txt")

    copy_python(ROOT / "library", staging / "plugins" / "modules")
    for kind in PLUGIN_KINDS:
        copy_python(ROOT / "plugins" / kind, staging / "plugins" / kind)
    # ansible-rulebook finds a collection's sources here (copilotos.remediation.copilotos_docker_logs);
    # the rulebook itself stays in the repository (rulebooks/, it runs the repository's playbooks).
    copy_python(ROOT / "extensions" / "eda" / "plugins" / "event_source",
                staging / "extensions" / "eda" / "plugins" / "event_source")

    for role in sorted((ROOT / "roles").iterdir()):
        if role.is_dir() and role.name not in LAB_ONLY_ROLES:
            copy_jinja_tree(role, staging / "roles" / role.name)

    playbooks = staging / "playbooks"
    playbooks.mkdir()
    lookups, filters = jinja_plugins()
    sources = [ROOT / "remediate.yml"] + [p for p in sorted((ROOT / "playbooks").glob("*.yml"))
                                          if p.name not in LAB_ONLY_PLAYBOOKS]
    for path in sources:
        text = path.read_text().replace("import_playbook: ../remediate.yml", "import_playbook: remediate.yml")
        (playbooks / path.name).write_text(rewrite_jinja(text, lookups, filters))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=str(ROOT / "dist"))
    parser.add_argument("--staging", help="keep the staging tree here (default: a temporary directory)")
    args = parser.parse_args()

    output = Path(args.output_dir).resolve()
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="copilotos-collection-") as tmp:
        staging = Path(args.staging).resolve() if args.staging else Path(tmp) / "remediation"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        stage(staging)
        ansible_galaxy = shutil.which("ansible-galaxy") or str(Path(sys.executable).parent / "ansible-galaxy")
        argv = [ansible_galaxy, "collection", "build", "--force", "--output-path", str(output), str(staging)]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603 (our own argv)
        if result.returncode != 0:
            sys.stderr.write(result.stdout + result.stderr)
            return result.returncode
    tarball = re.search(r"(/\S+\.tar\.gz)", result.stdout)
    print(tarball.group(1) if tarball else result.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
