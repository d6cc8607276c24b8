"""Benchmarks: `make bench` (or `python -m bench [name …]`) runs every module here
that has a `main()`, in name order.

A benchmark module measures something the issues set a target for, prints its table
and returns True when every target is met. Modules whose names start with an
underscore are helpers (`_harness`: gunicorn, wrk and temporary databases) and are
never run on their own.
"""
