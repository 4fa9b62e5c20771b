# The two commands of the README:
#   make demo   set up (first time) and run the main job
#   make test   set up (first time) and run lint + the whole test suite
.PHONY: demo test bench lint
demo:
	@./scripts/bootstrap.sh lava-sleep demo

test:
	@./scripts/bootstrap.sh ./scripts/test.sh

bench:
	@./scripts/bootstrap.sh lava-sleep bench --json benchmarks/results/bench.json

lint:
	@./scripts/bootstrap.sh ruff check .
