"""Load and fault runs against the whole deployment: gunicorn, the engine process,
the database, a fake Twilio and an SMTP server, all real processes on loopback.

`make load` (`python -m load`) runs the load test on SQLite and PostgreSQL;
`make faults` runs the fault scenarios in load/test_faults.py. Both are slow and
stay out of `make test`; docs/reliability.md has their figures.
"""
