"""`python -m load [sqlite] [postgresql]`: the load run (load/run.py)."""
import sys

from load.run import main

sys.exit(0 if main(sys.argv[1:]) else 1)
