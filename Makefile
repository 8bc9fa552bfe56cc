# copilotos-remediation: every entry point sets up what it needs first.
SHELL := /bin/bash
VENV := $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
PYTEST ?= $(VENV)/bin/pytest
INVENTORY ?= inventory/lab

.PHONY: watch collection sanity docs test-faults test-fleet test-all setup lab-up lab-down lab-reset demo remediate audit test lint unit integration molecule bench clean

setup:
	@scripts/setup-toolchain.sh

lab-up: setup
	ansible-playbook -i $(INVENTORY) playbooks/lab.yml

lab-down: setup
	ansible-playbook -i $(INVENTORY) playbooks/lab.yml -e lab_state=absent

lab-reset: setup
	ansible-playbook -i $(INVENTORY) playbooks/lab.yml -e lab_reset=true

demo: setup
	@scripts/demo.sh $(INVENTORY)

remediate: setup
	ansible-playbook -i $(INVENTORY) remediate.yml

audit: setup
	ansible-playbook -i $(INVENTORY) playbooks/audit.yml

# Follow the api logs of every host and audit/remediate on Redis or Mongo error
# signatures (rulebooks/copilotos.yml, README "Watching the logs"). Ctrl-C, or
# SIGTERM to make's PID, stops it; make does not forward a SIGINT sent to its PID alone.
WATCH_WINDOW ?= 10 minutes
watch: setup
	COPILOTOS_WATCH_WINDOW="$(WATCH_WINDOW)" scripts/watch.sh $(INVENTORY)

lint: setup
	@scripts/lint.sh

# The collection copilotos.remediation, built from library/, plugins/ and roles/ into dist/.
collection: setup
	$(VENV)/bin/python scripts/build_collection.py

# ansible-test sanity on that collection, installed offline into a temporary tree.
sanity: setup
	@scripts/sanity.sh

unit: setup
	$(PYTEST) -q tests/unit

integration: setup
	$(PYTEST) -q tests/integration

molecule: setup
	@scripts/molecule.sh

test: setup
	@scripts/test.sh

bench: setup
	bench/run

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache reports dist

docs: setup
	$(VENV)/bin/python scripts/gen_vars_doc.py

test-faults: setup
	$(PYTEST) -q tests/integration/test_faults.py

test-fleet: setup
	$(PYTEST) -q tests/integration/test_fleet.py

# make test with the remediation story on all four lab variants (generation x
# layout) instead of the gate's one, the local four-host fleet
# (tests/integration/test_fleet.py) and Molecule's rollback scenario: about 15
# minutes longer.
test-all: setup
	@COPILOTOS_ALL_VARIANTS=1 scripts/test.sh
