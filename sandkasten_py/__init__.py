"""sandkasten-py: a Python re-implementation of the Sandkasten code-execution service."""

__version__ = "0.1.0"
