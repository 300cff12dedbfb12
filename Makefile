# The two commands of the README. Both install what they need first (scripts/bootstrap.sh).
.PHONY: run test bench deny
run:
	scripts/run.sh
test:
	scripts/test.sh
# Benchmark (README, "Benchmark"): 7-8 minutes on an idle machine after the release build;
# `scripts/bench.sh --quick` for a smoke run.
bench:
	scripts/bench.sh
# Supply-chain checks alone (also part of `make test`).
deny:
	scripts/deny.sh
