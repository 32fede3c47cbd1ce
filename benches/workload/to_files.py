#!/usr/bin/env python3
"""A files-backend data directory from a `gen_workload.py` workload, to run `flakewatch
triage` (the whole cycle, new issues included) on the workload's issues and failures:

    python3 benches/workload/gen_workload.py --shape small --seed 1 --out /tmp/wl/small
    python3 benches/workload/to_files.py /tmp/wl/small /tmp/wl/small-files
    target/release/flakewatch triage --data /tmp/wl/small-files --now 2026-09-01T00:00:00Z

Every failed build of the workload gets a commit of its own (a hash of its URL) on its
repository's dashboard, where every other builder of that repository passed, and one last
commit passes everywhere: the obvious-flake filter then keeps every failure, as the
workload means them all to be examined. Each failure record becomes a `failures.jsonl` line
(`mode` `build` for build failures), each build a `builds.jsonl` line. `--now` must be
after the workload's window (2026-08-27).
"""

import hashlib
import json
import os
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(src, "issues.jsonl"), encoding="utf-8") as f, \
            open(os.path.join(out, "issues.jsonl"), "w", encoding="utf-8") as w:
        for line in f:
            issue = json.loads(line)
            issue.setdefault("created_at", "2026-01-01T00:00:00Z")
            w.write(json.dumps(issue) + "\n")
    builders = {}  # name -> (repo, goos, goarch)
    failed = {}  # url -> (builder, date)
    with open(os.path.join(src, "failures.jsonl"), encoding="utf-8") as f, \
            open(os.path.join(out, "failures.jsonl"), "w", encoding="utf-8") as w:
        for line in f:
            r = json.loads(line)
            url = r["build_url"]
            builders[r["builder"]] = (r["repo"], r["goos"], r["goarch"])
            failed.setdefault(url, (r["builder"], r["date"], r["log"]))
            row = {
                "url": url, "builder": r["builder"], "repo": r["repo"], "goos": r["goos"],
                "goarch": r["goarch"], "date": r["date"], "status": r["status"],
                "pkg": r["pkg"], "test": r["test"], "output": r["output"],
            }
            if r["mode"] == "build":
                row["mode"] = "build"
            w.write(json.dumps(row) + "\n")
    next_id = [9000000000000000000]

    def build(w, url, name, commit, date, status, log=""):
        repo, goos, goarch = builders[name]
        if url is None:
            next_id[0] += 1
            url = "https://ci.chromium.org/b/%d" % next_id[0]
        w.write(json.dumps({
            "url": url, "builder": name, "repo": repo, "go_branch": "master", "goos": goos,
            "goarch": goarch, "commit": commit, "go_commit": "", "date": date,
            "build_time": date, "status": status, "log": log}) + "\n")

    last = max(d for _, d, _ in failed.values())
    with open(os.path.join(out, "builds.jsonl"), "w", encoding="utf-8") as w:
        for url, (name, date, log) in failed.items():
            commit = hashlib.sha1(url.encode()).hexdigest()
            build(w, url, name, commit, date, "FAILURE", log)
            for other in builders:
                if other != name and builders[other][0] == builders[name][0]:
                    build(w, None, other, commit, date, "SUCCESS")
        for name in builders:
            build(w, None, name, "f" * 40, last, "SUCCESS")
    open(os.path.join(out, "comments.jsonl"), "w").close()


if __name__ == "__main__":
    main()
