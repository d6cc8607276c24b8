"""Benchmarks: `make bench` runs every module here that has a main() (see __main__)."""
