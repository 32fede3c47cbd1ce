#!/usr/bin/env python3
"""Keeps the issues whose watchflakes script has no regexp: a comparison-heavy pattern set.

    python3 comparisons_only.py IN/issues.jsonl OUT/issues.jsonl

On the default shape (seed 1) this keeps 524 of the 1,200 issues. Matched against the same
failures, it measures the engines where the equality index and the compiled control flow are
all there is (no literal scan, no regexp).
"""

import json
import re
import sys

FENCE = re.compile(r"#!watchflakes\n(.*?)```", re.S)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    kept = 0
    with open(src, encoding="utf-8") as inp, open(dst, "w", encoding="utf-8") as out:
        for line in inp:
            body = json.loads(line).get("body") or ""
            script = FENCE.search(body)
            if script and "`" not in script.group(1):
                out.write(line)
                kept += 1
    print(f"kept {kept} issues", file=sys.stderr)


if __name__ == "__main__":
    main()
