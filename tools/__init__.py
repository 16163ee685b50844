"""Developer tooling: not part of the installed package (it may use test-only dependencies)."""
