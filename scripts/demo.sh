#!/usr/bin/env bash
# make demo: the whole story on the embedded lab.
#   1. a fresh lab in the incident state of the production diagnosis,
#   2. the read-only audit (--check --diff) that finds every defect,
#   3. the remediation (fix, recreate the api, prove, roll back on failure),
#   4. a second run that changes nothing,
#   5. the outcome, checked from outside.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
inv=${1:-inventory/lab}
step() { printf '\n\033[1m== demo: %s\033[0m\n' "$*"; }

step "1/5 a fresh lab in the incident state (images built from Debian packages)"
ansible-playbook -i "$inv" playbooks/lab.yml -e lab_state=absent >/dev/null
ansible-playbook -i "$inv" playbooks/lab.yml | tail -n 3

step "2/5 read-only audit: ansible-playbook remediate.yml --check --diff"
set +e
ansible-playbook -i "$inv" remediate.yml --check --diff
audit_rc=$?
set -e
echo "audit exit status: $audit_rc (non-zero: critical findings, as expected on the incident)"

step "3/5 remediation: ansible-playbook remediate.yml"
ansible-playbook -i "$inv" remediate.yml

step "4/5 second run: nothing changes, nothing restarts"
ansible-playbook -i "$inv" remediate.yml | grep -A3 'PLAY RECAP'

step "5/5 the outcome, from outside"
ports=$(ansible-inventory -i "$inv" --list | python3 -c 'import json,sys; d=json.load(sys.stdin)["_meta"]["hostvars"]; print(" ".join(str(v["copilotos_api_port"]) for v in d.values()))')
for port in $ports; do
  echo "-- api on 127.0.0.1:$port"
  curl -s "http://127.0.0.1:$port/api/health"; echo
  curl -s -o /dev/null -D - -X OPTIONS "http://127.0.0.1:$port/api/health" \
    -H 'Origin: https://copiloto.saptiva.com' -H 'Access-Control-Request-Method: POST' \
    | grep -i '^access-control-allow-\(origin\|credentials\)' || true
done
echo
echo "Reports: $(readlink -f reports/latest)/ (index.html, <host>.md, <host>.json)"
