# The two commands of the README: `make serve` and `make test`. Both set up first.
.PHONY: setup serve test integration-tests config-doc

HOST ?= 127.0.0.1
export HOST

setup:
	@scripts/setup.sh

serve: setup
	exec .venv/bin/sandkasten serve

test: setup
	.venv/bin/python -m pytest

# The API conformance and security suites only (pytest arguments in ARGS, e.g. ARGS='-k config').
integration-tests: setup
	.venv/bin/sandkasten integration-tests $(ARGS)

# Regenerate docs/configuration.md from sandkasten_py/config.py and config.toml.
config-doc:
	.venv/bin/sandkasten config-doc
