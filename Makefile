# Thin entry points; the work is done by scripts/.
.PHONY: help venv az lint unit e2e test mutate package demo bench clean

help:
	@echo "make test    - lint, type-check, unit tests (with the coverage floor), end-to-end tests (real az + local emulator)"
	@echo "make mutate  - break the safety-critical code one line at a time; fails if a mutant survives the unit tests"
	@echo "make package - build the sdist and wheel, check the wheel, install it with pip and with pipx, run azpe"
	@echo "make demo    - the main job against the local Azure emulator (sandbox)"
	@echo "make bench   - benchmark azpe against bare az, a bash loop and xargs -P 4"

venv:
	sh scripts/setup.sh dev

az:
	sh scripts/setup.sh az

lint: venv
	sh scripts/lint.sh

unit: venv
	sh scripts/test.sh unit

e2e: venv az
	sh scripts/test.sh e2e

test: venv az
	sh scripts/lint.sh
	sh scripts/test.sh all

mutate: venv
	.venv/bin/python scripts/mutate.py

package: venv
	sh scripts/check-package.sh

demo: venv az
	sh scripts/demo.sh

bench: venv az
	sh scripts/netns-run.sh .venv/bin/python scripts/bench.py

clean:
	rm -rf .venv .venv-az .sandbox .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov build dist
