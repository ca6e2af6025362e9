# The README names these targets.
.PHONY: demo test lint bench

demo:
	sh demo/run.sh

# Every test in its own process (nextest); the leak check runs last, on its own.
test:
	cargo build --workspace
	cargo nextest run --workspace --no-fail-fast -E 'not test(leak_check)'
	cargo nextest run --workspace -E 'test(leak_check)'

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

bench:
	sh bench/lifecycle.sh
