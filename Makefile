# The README names these targets.
.PHONY: demo test lint bench install uninstall release

# Where `make install` puts hull: $(DESTDIR)$(PREFIX)/bin/hull, man pages in man8, completions
# where bash-completion, zsh and fish look for them.
PREFIX ?= /usr/local
DESTDIR ?=
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
DOCS := $(TARGET_DIR)/hull-docs
BINDIR = $(DESTDIR)$(PREFIX)/bin
MAN8DIR = $(DESTDIR)$(PREFIX)/share/man/man8
BASHDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR = $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d

demo:
	sh demo/run.sh

# The release binary, target/release/hull, linked statically (glibc's static-pie: still
# position-independent, so ASLR holds): no dynamic loader resolving libc at each start, and
# create, run and exec start twice (see security/exe_guard.rs). Only the binary's own link
# takes the flag; the crates and the debug build the tests use are as `cargo build` makes them.
release:
	cargo rustc --release -q -p hull --bin hull -- -C target-feature=+crt-static

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

# The --systemd-cgroup tests against systemd 252 as PID 1, in a QEMU guest (tests/vm/run-systemd.sh).
.PHONY: test-systemd
test-systemd:
	sh tests/vm/run-systemd.sh

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

# The release binary, and the man pages and completions rendered from its clap definitions
# (crates/hull-docs).
install: release
	rm -rf $(DOCS)
	cargo run -q -p hull-docs -- $(DOCS) >/dev/null
	install -D -m 0755 $(TARGET_DIR)/release/hull $(BINDIR)/hull
	install -d $(MAN8DIR)
	install -m 0644 $(DOCS)/man8/*.8 $(MAN8DIR)/
	install -D -m 0644 $(DOCS)/completions/hull.bash $(BASHDIR)/hull
	install -D -m 0644 $(DOCS)/completions/_hull $(ZSHDIR)/_hull
	install -D -m 0644 $(DOCS)/completions/hull.fish $(FISHDIR)/hull.fish

uninstall:
	rm -f $(BINDIR)/hull $(MAN8DIR)/hull.8 $(MAN8DIR)/hull-*.8
	rm -f $(BASHDIR)/hull $(ZSHDIR)/_hull $(FISHDIR)/hull.fish
