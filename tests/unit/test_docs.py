"""The variables page is generated from the argument specs and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_variables_doc_is_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_vars_doc.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_every_role_has_argument_specs_and_defaults() -> None:
    for role in sorted((ROOT / "roles").iterdir()):
        spec_file = role / "meta" / "argument_specs.yml"
        assert spec_file.is_file(), role.name
        assert (role / "defaults" / "main.yml").is_file(), role.name
        # Every entry point the spec declares has its task file, and every
        # task file that is an entry point is declared.
        entries = yaml.safe_load(spec_file.read_text())["argument_specs"]
        for entry in entries:
            assert (role / "tasks" / ("%s.yml" % entry)).is_file(), (role.name, entry)
