# The two commands of the README:
#   make demo   set up (first time) and run the main job
#   make test   set up (first time) and run lint + the whole test suite (Python 3.10 with Lava,
#               .venv), then the suite without Lava on the machine's python3 >= 3.11 (.venv-py3;
#               skipped without one): scripts/test-py3.sh, docs/export.md
.PHONY: demo test test-py3 bench lint
demo:
	@./scripts/bootstrap.sh lava-sleep demo

# The second lane runs what differs on a newer Python (NumPy 2, no lava-nc): the unit tests, the
# NIR export against Norse, and the C kernel and torch path against the NumPy oracle; the whole
# suite without Lava runs with `make test-py3` (about 10 minutes on 2 cores, too long for CI).
# Tests marked `compiled` (the engine's torch path under torch.compile, a minute of compilation
# per configuration) run in the 3.10 lane only.
PY3_CI_TESTS = tests/unit tests/integration/test_export_nir.py tests/integration/test_bootstrap_py3.py \
               tests/equivalence/test_engine_oracle.py

test:
	@./scripts/bootstrap.sh ./scripts/test.sh
	@./scripts/test-py3.sh -m "not lava and not compiled" $(PY3_CI_TESTS)

test-py3:
	@./scripts/test-py3.sh

bench:
	@./scripts/bootstrap.sh lava-sleep bench --json benchmarks/results/bench.json

lint:
	@./scripts/bootstrap.sh ruff check .
