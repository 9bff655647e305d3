# The two quick-start commands. Both set themselves up on first use:
#   make run    opens the app
#   make test   runs the full test suite
# A fresh venv in .venv, the project installed into it (editable, with the test
# extra), and /dev/mqueue mounted when we are root and it is missing (the grader
# lists POSIX message queues there to find leaks).

VENV    := .venv
STAMP   := $(VENV)/.installed-stamp
PYTHON  ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
             command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
             && { echo $$p; break; }; done)
WORKERS ?= 2

.PHONY: run test check setup mqueue clean

run: setup
	@$(VENV)/bin/kata

test: setup
	$(VENV)/bin/python -m pytest -n $(WORKERS) $(PYTEST_ARGS)

# The gate CI runs before the tests: lint and format (ruff), types (mypy: strict on the
# grader, the default checks on the app; configuration in pyproject.toml).
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy grader kata

setup: $(STAMP) mqueue

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "ipc-kata needs Python 3.11 or newer (python3.11+ on PATH)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

mqueue:
	@scripts/ensure-mqueue

clean:
	rm -rf $(VENV) build dist
