#!/usr/bin/env bash
# ansible-test sanity on the built collection (make sanity; scripts/test.sh runs it
# after the lint gates): build dist/copilotos-remediation-*.tar.gz, install it
# offline into a temporary tree <tmp>/ansible_collections/copilotos/remediation
# and run every sanity test there with the controller's Python (no container).
#
# ansible-test runs each sanity test in its own virtualenv under
# ~/.ansible/test/venv, which it fills from PyPI with its own pinned
# requirements (ansible_test/_data/requirements/sanity.*.txt). It first puts pip
# into that empty virtualenv with a bootstrap script, get-pip-<version>.py,
# downloaded from ci-files.testing.ansible.com, a host this network does not
# reach; it keeps the script in ~/.ansible/test/cache/get_pip_<version>.py and
# uses a file found there instead of downloading (that is the override its
# error message documents). So this script downloads that pip version's wheel
# from PyPI (pip download, once, into .cache/) and writes a small get-pip
# equivalent there that runs pip from the wheel: `pip install` of the same
# packages, from that wheel only (--no-index).
#
# Usage: scripts/sanity.sh [ansible-test sanity options, e.g. --test pylint]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
export PATH="$repo/.venv/bin:$PATH"
unset ANSIBLE_CONFIG  # the repository's ansible.cfg is for the repository, not the collection
python_version=3.11
started=$(date +%s)

# --- The pip bootstrap ansible-test wants, from PyPI's pip wheel ----------------
pip_version=$(python - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version="3.11"))["pip"])
PY
)
wheels="$repo/.cache/ansible-test-pip"
wheel=$(ls "$wheels"/pip-"$pip_version"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  mkdir -p "$wheels"
  pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d "$wheels" "pip==$pip_version"
  wheel=$(ls "$wheels"/pip-"$pip_version"-*.whl | head -n 1)
fi
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
marker="# copilotos-remediation scripts/sanity.sh: get-pip from PyPI's pip wheel"
if [ ! -f "$cache" ] || grep -qxF "$marker" "$cache"; then
  mkdir -p "$(dirname "$cache")"
  cat >"$cache" <<PY
$marker
"""Stands in for get-pip-$pip_version.py: installs pip $pip_version from its PyPI wheel, offline."""
import runpy
import sys

WHEEL = "$wheel"
# get-pip's own options; pip install does not know them (this wheel brings no setuptools or wheel).
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.path.insert(0, WHEEL)
sys.argv = ["pip", "install", "--upgrade", "--force-reinstall", "--no-index", "--find-links", "$wheels"] + args
runpy.run_module("pip", run_name="__main__", alter_sys=True)
PY
fi

# --- Build, install offline, test --------------------------------------------------
tarball=$(python scripts/build_collection.py)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/copilotos-sanity.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# Only the temporary path: ansible.cfg also serves this checkout as copilotos.remediation.
ANSIBLE_COLLECTIONS_PATH="$tmp" ansible-galaxy collection install --offline "$tarball" -p "$tmp" >/dev/null
cd "$tmp/ansible_collections/copilotos/remediation"
# ansible-test lists the files of a tree outside git by walking it: only the installed collection.
ansible-test sanity --python "$python_version" --color no "$@"

# The modules and module_utils run on the targets' Pythons (3.9 to 3.13): the
# sanity tests that depend on the Python (compile, import) on each one found here
# (on PATH or built by pyenv, as for the SSH lab targets); a missing one is named and left out.
if [ $# = 0 ]; then
  bin="$tmp/bin"; mkdir -p "$bin"
  for v in 3.9 3.10 3.12 3.13; do
    found=""
    for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v" "$(command -v "python$v" || true)"; do
      [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c '' 2>/dev/null && { found=$candidate; break; }
    done
    if [ -z "$found" ]; then echo "== sanity: no Python $v here, compile and import left out for it" >&2; continue; fi
    ln -sf "$found" "$bin/python$v"
    PATH="$bin:$PATH" ansible-test sanity --python "$v" --color no --test compile --test import
  done
fi
echo "== sanity: done in $(( $(date +%s) - started )) s" >&2
