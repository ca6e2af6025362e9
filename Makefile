# The README names these targets.
.PHONY: demo test lint bench

demo:
	sh demo/run.sh

# Every test in its own process (nextest); the leak check runs last, on its own.
test:
	cargo build --workspace
	cargo build -p hull --features failpoints --target-dir target/failpoints
	cargo nextest run --workspace --no-fail-fast -E 'not test(leak_check)'
	cargo nextest run --workspace -E 'test(leak_check)'

# The cgroup v2 integration tests, in a cgroup-v2-only QEMU guest (tests/vm/run-v2.sh).
.PHONY: test-v2
test-v2:
	sh tests/vm/run-v2.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

bench:
	sh bench/lifecycle.sh

# The same benchmark in the cgroup-v2-only QEMU guest of test-v2, where crun runs too
# (tests/vm/bench-v2.sh); emulated, so compare the runtimes within its own run only.
.PHONY: bench-v2
bench-v2:
	sh tests/vm/bench-v2.sh
