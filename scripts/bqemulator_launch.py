"""Starts bqemulator (PyPI bqemulator==1.4.0) offline, for flakewatch's BigQuery tests.

As shipped, the emulator's engine runs `INSTALL spatial` (and, best effort, `INSTALL avro`)
at start-up, which downloads DuckDB extensions from the network: without network access it
refuses to start, and with it start-up takes long. flakewatch needs neither GEOGRAPHY nor
Avro, so this launcher replaces both steps with no-ops and then runs the emulator's own
command line:

    python scripts/bqemulator_launch.py start --rest-host 127.0.0.1 --rest-port PORT ...
"""

import sys

from bqemulator.storage import engine

engine.DuckDBEngine._load_spatial = lambda self: None
engine.DuckDBEngine._load_format_extensions = lambda self: None

from bqemulator.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "bqemulator"
    main()
