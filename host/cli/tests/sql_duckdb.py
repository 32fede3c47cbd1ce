"""Runs a query written by `flakewatch sql` over failure records in an embedded DuckDB.

Used by host/cli/tests/sql_cli.rs with the Python of the BigQuery emulator's virtual
environment (it has the duckdb package, and bqemulator's BigQuery-to-DuckDB translator):

    python sql_duckdb.py --failures FILE --limit N [--duckdb SQL OUT] [--bigquery SQL OUT]

Loads the first N lines of FILE (JSON objects with the watchflakes field names) into the
table `failures` (`line` BIGINT, 1-based, and one VARCHAR column per field; a key that is
absent is NULL), runs each query (a BigQuery one first translated to DuckDB's dialect by
bqemulator's translator, as the emulator does), and writes one line per failure to OUT,
ordered by `line`, in `flakewatch match`'s format: {"action":"post","targets":[1,2]}.
On standard error it says how long loading, translating and each query took (wall clock).
"""

import argparse
import json
import os
import sys
import tempfile
import time

import duckdb

FIELDS = [
    "section", "pkg", "test", "mode", "output", "snippet", "date",
    "builder", "repo", "goos", "goarch", "log", "status",
]


def load(con, path, limit):
    """Writes the records as flat JSON lines with a `line` key and reads them with DuckDB."""
    with tempfile.TemporaryDirectory() as tmp:
        flat = os.path.join(tmp, "flat.jsonl")
        count = 0
        with open(path, encoding="utf-8") as src, open(flat, "w", encoding="utf-8") as dst:
            for count, text in enumerate(src, start=1):
                if count > limit:
                    count -= 1
                    break
                record = json.loads(text)
                row = {"line": count}
                for field in FIELDS:
                    value = record.get(field)
                    if value is not None and not isinstance(value, str):
                        sys.exit(f"{path}:{count}: field {field} is not a string")
                    row[field] = value
                dst.write(json.dumps(row))
                dst.write("\n")
        columns = {"line": "BIGINT", **{f: "VARCHAR" for f in FIELDS}}
        con.execute(
            "CREATE TABLE failures AS SELECT * FROM read_json(?, format = 'newline_delimited', "
            "columns = " + "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}, "
            "maximum_object_size = 1073741824)",
            [flat],
        )
    return count


def run(con, query, count, out_path, name):
    """Runs one query and writes its assignment in `match`'s format."""
    start = time.perf_counter()
    rows = con.execute(f"SELECT * FROM ({query}) ORDER BY 1").fetchall()
    print(f"{name}: {len(rows)} rows in {time.perf_counter() - start:.3f} s", file=sys.stderr)
    if len(rows) != count:
        sys.exit(f"{len(rows)} result rows for {count} failures")
    with open(out_path, "w", encoding="utf-8") as out:
        for expected, (line, action, targets) in enumerate(rows, start=1):
            if line != expected:
                sys.exit(f"result row {expected} has line {line}")
            out.write(json.dumps({"action": action, "targets": list(targets)}, separators=(",", ":")))
            out.write("\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--failures", required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--duckdb", nargs=2, metavar=("SQL", "OUT"))
    parser.add_argument("--bigquery", nargs=2, metavar=("SQL", "OUT"))
    args = parser.parse_args()
    con = duckdb.connect()
    start = time.perf_counter()
    count = load(con, args.failures, args.limit)
    print(f"load: {count} failures in {time.perf_counter() - start:.3f} s", file=sys.stderr)
    if args.duckdb:
        with open(args.duckdb[0], encoding="utf-8") as f:
            run(con, f.read(), count, args.duckdb[1], "duckdb query")
    if args.bigquery:
        import logging
        import structlog
        from bqemulator.sql.translator import SQLTranslator
        logging.disable(logging.CRITICAL)
        # bqemulator logs through structlog, which logging.disable does not reach.
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL)
        )
        start = time.perf_counter()
        with open(args.bigquery[0], encoding="utf-8") as f:
            result = SQLTranslator().translate(f.read())
        if not hasattr(result, "value"):
            sys.exit(f"bqemulator cannot translate the query: {result}")
        print(f"bigquery translation: {time.perf_counter() - start:.3f} s", file=sys.stderr)
        run(con, result.value, count, args.bigquery[1], "bigquery query (translated)")


if __name__ == "__main__":
    main()
