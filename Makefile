# The two commands of the README: `make serve` and `make test`. Both set up first.
.PHONY: setup serve test

HOST ?= 127.0.0.1
export HOST

setup:
	@scripts/setup.sh

serve: setup
	exec .venv/bin/sandkasten serve

test: setup
	.venv/bin/python -m pytest
