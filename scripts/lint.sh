#!/usr/bin/env bash
# Every static gate of the project. Fails on the first gate that fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
step() { echo "== lint: $*" >&2; }

step yamllint
yamllint --strict .

step ruff
ruff check $(ls -d library plugins extensions tests lab/image/app lab/image/apps lab/image/overlays bench scripts/*.py 2>/dev/null)
step mypy
mypy plugins/module_utils plugins/filter plugins/action plugins/lookup plugins/callback plugins/doc_fragments library
mypy extensions/eda/plugins/event_source

step ansible-playbook --syntax-check
for pb in remediate.yml playbooks/*.yml; do
  ansible-playbook --syntax-check -i inventory/lab "$pb" >/dev/null
done

step ansible-doc
for mod in library/*.py; do
  name=$(basename "$mod" .py)
  ansible-doc -M library "$name" >/dev/null
done
# Every filter has its ansible-doc file (plugins/filter/<name>.yml).
for name in $(python - <<'PY'
import re, pathlib
text = pathlib.Path("plugins/filter/copilotos.py").read_text()
print(" ".join(re.findall(r'^\s*"(copilotos_\w+)":\s', text, re.MULTILINE)))
PY
); do
  [ -f "plugins/filter/$name.yml" ] || { echo "lint: filter $name has no plugins/filter/$name.yml" >&2; exit 1; }
  ansible-doc -t filter "$name" >/dev/null
done

step ansible-lint
ansible-lint --offline --strict
