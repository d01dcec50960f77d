"""Benchmarks that train for minutes and print tables: run them with `make bench-parity`."""
