#!/usr/bin/env bash
# The Molecule scenarios (make molecule, scripts/test.sh): offline, with the
# project's virtualenv, from the repository root.
#   scripts/molecule.sh                 # default, then rollback
#   scripts/molecule.sh rollback        # only the named scenarios
# Each scenario's test sequence starts and ends with destroy; when one fails or
# is interrupted, `molecule destroy` runs again here so that no lab is left
# behind. Exits non-zero when any scenario failed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"

if [ "$#" -gt 0 ]; then scenarios=("$@"); else scenarios=(default rollback); fi

# The scenarios' labs have fixed Compose project names and ports: one run at a
# time on this machine.
lock=/var/tmp/molecule-copilotos.lock
exec 9>"$lock"
if ! flock --wait 1800 9; then
  echo "== molecule: another run holds $lock" >&2
  exit 1
fi

current=""
destroy() {
  [ -n "$current" ] || return 0
  echo "== molecule: $current: destroying its lab" >&2
  molecule destroy -s "$current" >/dev/null 2>&1 \
    || echo "== molecule: $current: destroy failed, remove the lab by hand (playbooks/lab.yml -e lab_state=absent)" >&2
}
trap 'destroy; exit 130' INT TERM

failed=()
for scenario in "${scenarios[@]}"; do
  current=$scenario
  started=$(date +%s)
  echo "== molecule: $scenario: molecule test -s $scenario" >&2
  if molecule test -s "$scenario"; then
    echo "== molecule: $scenario: PASSED in $(( $(date +%s) - started )) s" >&2
  else
    rc=$?
    echo "== molecule: $scenario: FAILED (rc $rc) in $(( $(date +%s) - started )) s" >&2
    destroy
    failed+=("$scenario")
  fi
  current=""
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "== molecule: failed: ${failed[*]}" >&2
  exit 1
fi
echo "== molecule: all passed: ${scenarios[*]}" >&2
