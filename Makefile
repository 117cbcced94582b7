# The two commands: `make run` starts the demo (Chatrk, worker and the Cloud API emulator with simulated
# customers, embedded); `make test` runs the tests.
.PHONY: run test lint

run:
	@scripts/bootstrap
	@.venv/bin/chatrk demo

test:
	@scripts/bootstrap --browser
	@.venv/bin/pytest -n 2 --dist loadfile

lint:
	@scripts/bootstrap
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/mypy chatrk emulator $(filter-out bench/emulator.py,$(wildcard bench/*.py))
