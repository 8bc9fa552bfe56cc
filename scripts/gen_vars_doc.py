#!/usr/bin/env python3
"""Render docs/variables.md from every role's meta/argument_specs.yml.

The argument specs are the single source of truth for the variables: this
page is generated, never edited by hand (`make docs`; a test checks it is
current).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def cell(value: object) -> str:
    text = " ".join(str(value).split()) if value is not None else ""
    return text.replace("|", "\\|")


def render() -> str:
    out = [
        "# Variables",
        "",
        "Generated from `roles/*/meta/argument_specs.yml` by `scripts/gen_vars_doc.py`; do not edit.",
        "Ansible validates these before a role runs; `copilotos_preflight` validates the",
        "configuration inputs before anything on the host is touched.",
        "",
    ]
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        role_dir = spec_file.parent.parent
        role = role_dir.name
        defaults_file = role_dir / "defaults" / "main.yml"
        defaults = (yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.is_file() else {}
        for entry, spec in yaml.safe_load(spec_file.read_text())["argument_specs"].items():
            title = role if entry == "main" else "%s (entry point `%s`)" % (role, entry)
            out += ["## %s" % title, "", cell(spec.get("short_description", "")), ""]
            out += ["| Variable | Type | Required | Default | Description |", "|---|---|---|---|---|"]
            for name, opt in spec.get("options", {}).items():
                kind = opt.get("type", "str")
                if kind == "list" and opt.get("elements"):
                    kind = "list of %s" % opt["elements"]
                default = ""
                # The role's defaults/main.yml is the one place a default lives;
                # a spec without its own default documents that one.
                value = opt["default"] if "default" in opt else defaults.get(name)
                if "default" in opt or name in defaults:
                    default = "`%s`" % cell(yaml.safe_dump(value).strip().removesuffix("..."))
                if opt.get("choices"):
                    kind += " (%s)" % ", ".join(str(c) for c in opt["choices"])
                desc = opt.get("description", "")
                desc = " ".join(desc) if isinstance(desc, list) else desc
                secret = " (secret)" if opt.get("no_log") else ""
                out.append("| `%s` | %s | %s | %s | %s%s |" % (name, cell(kind), "yes" if opt.get("required") else "",
                                                             default, cell(desc), secret))
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    target = ROOT / "docs" / "variables.md"
    text = render()
    if "--check" in sys.argv:
        if not target.exists() or target.read_text() != text:
            print("docs/variables.md is out of date: run scripts/gen_vars_doc.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
