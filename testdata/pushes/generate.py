#!/usr/bin/env python3
"""Writes the mozlog push used by `flakewatch revision`'s tests and its README example.

One revision, two suites, every execution a raw mozlog stream written by the real `mozlog`
package (PyPI, 8.1.0: `StructuredLogger` + `JSONFormatter`), plus `push.json`, which says for
each file the run metadata a CI system would pass (`--run-meta`): the task and its run (the
run's identity), the suite, the chunk and the chunk count.

mochitest-plain is split into 4 chunks:
  chunk 1  ran once, every test passed;
  chunk 2  ran twice (a re-run): test_c.html passed in the first execution and timed out in
           the second, where TIMEOUT is listed as known intermittent; test_d.html fails
           as expected in both (not flaky);
  chunk 3  ran once and stopped after test_f.html: test_g.html was scheduled, never reported;
  chunk 4  never ran.
xpcshell is split into 2 chunks, each ran once, all passed.

    python3 -m venv /tmp/mozvenv && /tmp/mozvenv/bin/pip install mozlog==8.1.0
    /tmp/mozvenv/bin/python testdata/pushes/generate.py
"""

import json
import os
import time

from mozlog import structuredlog
from mozlog.formatters import JSONFormatter
from mozlog.handlers import StreamHandler

HERE = os.path.dirname(os.path.abspath(__file__))
REVISION = "5f3a9c1e0b7d4e2a8c6b1d9f0e3a7c5b2d4f6a8e"
RUN_INFO = {"os": "linux", "processor": "x86_64", "bits": 64, "debug": False}
# A fixed clock: the files are the same on every run of this script.
CLOCK = [1_795_317_604.0]


def tick():
    CLOCK[0] += 0.25
    return CLOCK[0]


time.time = tick
os.getpid = lambda: 4242


def execution(name, suite, scheduled, tests):
    """Writes one execution: `scheduled` {group: [test]}; `tests` [(group, test, status,
    expected, known_intermittent)] in the order they ran."""
    path = os.path.join(HERE, name)
    with open(path, "w", encoding="utf-8") as out:
        logger = structuredlog.StructuredLogger(name)
        logger.add_handler(StreamHandler(out, JSONFormatter()))
        logger.suite_start(scheduled, name=suite, run_info=RUN_INFO)
        for group, test, status, expected, known in tests:
            logger.test_start(test, group=group)
            extra = {}
            if known:
                extra["known_intermittent"] = known
            logger.test_end(test, status, expected=expected, group=group, **extra)
        logger.suite_end()
        logger.remove_handler(logger.handlers[0])


def main():
    base = "dom/base/test/mochitest.toml"
    events = "dom/events/test/mochitest.toml"
    layout = "layout/test/mochitest.toml"
    files = []

    def add(name, task, run, suite, chunk, chunks, scheduled, tests):
        execution(name, suite, scheduled, tests)
        files.append({
            "file": name,
            "meta": {
                "revision": REVISION,
                "run_id": f"{task}/{run}",
                "suite": suite,
                "chunk": str(chunk),
                "chunks": str(chunks),
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(CLOCK[0])),
            },
        })

    add("mochitest-plain-1.log", "Fq2nX7yZQ1qAbCdEfGhIjK", 0, "mochitest-plain", 1, 4,
        {base: ["dom/base/test/test_a.html", "dom/base/test/test_b.html"]},
        [(base, "dom/base/test/test_a.html", "OK", "OK", None),
         (base, "dom/base/test/test_b.html", "OK", "OK", None)])
    chunk2 = {events: ["dom/events/test/test_c.html", "dom/events/test/test_d.html"]}
    add("mochitest-plain-2.log", "Gr3oY8zAR2rBcDeFgHiJkL", 0, "mochitest-plain", 2, 4, chunk2,
        [(events, "dom/events/test/test_c.html", "OK", "OK", None),
         (events, "dom/events/test/test_d.html", "FAIL", "FAIL", None)])
    add("mochitest-plain-2-rerun.log", "Gr3oY8zAR2rBcDeFgHiJkL", 1, "mochitest-plain", 2, 4,
        chunk2,
        [(events, "dom/events/test/test_c.html", "TIMEOUT", "OK", ["TIMEOUT"]),
         (events, "dom/events/test/test_d.html", "FAIL", "FAIL", None)])
    add("mochitest-plain-3.log", "Hs4pZ9aBS3sCdEfGhIjKlM", 0, "mochitest-plain", 3, 4,
        {layout: ["layout/test/test_f.html", "layout/test/test_g.html"]},
        [(layout, "layout/test/test_f.html", "OK", "OK", None)])
    add("xpcshell-1.log", "It5qA0bCT4tDeFgHiJkLmN", 0, "xpcshell", 1, 2,
        {"netwerk/test/unit/xpcshell.toml": ["netwerk/test/unit/test_http.js"]},
        [("netwerk/test/unit/xpcshell.toml", "netwerk/test/unit/test_http.js", "PASS", "PASS",
          None)])
    add("xpcshell-2.log", "Ju6rB1cDU5uEfGhIjKlMnO", 0, "xpcshell", 2, 2,
        {"toolkit/test/unit/xpcshell.toml": ["toolkit/test/unit/test_prefs.js"]},
        [("toolkit/test/unit/xpcshell.toml", "toolkit/test/unit/test_prefs.js", "PASS", "PASS",
          None)])
    with open(os.path.join(HERE, "push.json"), "w", encoding="utf-8") as out:
        json.dump({"revision": REVISION, "executions": files}, out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
