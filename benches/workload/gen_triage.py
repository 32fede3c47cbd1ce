#!/usr/bin/env python3
"""A files-backend data directory at triage scale, for timing `flakewatch triage`:
builders x commits of one dashboard (every cell a build, most of them passing), a share of the
builds failed with one or two failed tests, and the issues of a `gen_workload.py` workload
(whose scripts match those tests' packages).

    python3 benches/workload/gen_workload.py --shape default --seed 1 --out /tmp/wl
    python3 benches/workload/gen_triage.py --issues /tmp/wl/issues.jsonl --out /tmp/big \\
        --commits 10000 --builders 32
    target/release/flakewatch triage --data /tmp/big --now 2025-10-01T00:00:00Z > /dev/null
"""

import argparse
import json
import os
import random

DAY = 86400
NOW = 1759276800  # 2025-10-01T00:00:00Z


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", required=True, help="issues.jsonl of a gen_workload.py workload")
    ap.add_argument("--out", required=True)
    ap.add_argument("--commits", type=int, default=10000)
    ap.add_argument("--builders", type=int, default=32)
    ap.add_argument("--fail-rate", type=float, default=0.06)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    r = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    tests = []
    for line in open(args.issues, encoding="utf-8"):
        body = json.loads(line).get("body") or ""
        for part in body.split("pkg == \"")[1:]:
            pkg = part.split("\"", 1)[0]
            test = ""
            if "test == \"" in part:
                test = part.split("test == \"", 1)[1].split("\"", 1)[0]
            tests.append((pkg, test or "TestGenerated"))
    tests = sorted(set(tests))
    builders = [
        {"name": f"gotip-{os_}-{arch}-{k}", "repo": "go", "go_branch": "master", "goos": os_, "goarch": arch}
        for k, (os_, arch) in enumerate(
            (r.choice(["linux", "windows", "darwin", "freebsd", "openbsd"]), r.choice(["amd64", "arm64", "386"]))
            for _ in range(args.builders)
        )
    ]
    with open(os.path.join(args.out, "issues.jsonl"), "w", encoding="utf-8") as out:
        for line in open(args.issues, encoding="utf-8"):
            issue = json.loads(line)
            issue.setdefault("state", "open")
            issue.setdefault("title", f"issue {issue['number']}")
            out.write(json.dumps(issue) + "\n")
    with open(os.path.join(args.out, "builders.jsonl"), "w", encoding="utf-8") as out:
        for b in builders:
            out.write(json.dumps(b) + "\n")
    open(os.path.join(args.out, "comments.jsonl"), "w").close()
    span = 44 * DAY
    build_id = 8790000000000000000
    failed_tests = 0
    with open(os.path.join(args.out, "builds.jsonl"), "w", encoding="utf-8") as builds, \
            open(os.path.join(args.out, "failures.jsonl"), "w", encoding="utf-8") as failures:
        for c in range(args.commits):
            t = NOW - span + span * c // args.commits
            commit = f"{r.getrandbits(160):040x}"
            date = f"{__import__('time').strftime('%Y-%m-%dT%H:%M:%SZ', __import__('time').gmtime(t))}"
            for b in builders:
                build_id += 1
                url = f"https://ci.chromium.org/b/{build_id}"
                failed = r.random() < args.fail_rate
                builds.write(json.dumps({
                    "url": url, "builder": b["name"], "repo": "go", "go_branch": "master",
                    "goos": b["goos"], "goarch": b["goarch"], "commit": commit, "go_commit": "",
                    "date": date, "build_time": date, "status": "FAILURE" if failed else "SUCCESS",
                    "log": "", "step_log": "",
                }) + "\n")
                if not failed:
                    continue
                for _ in range(r.choice([1, 1, 2])):
                    pkg, test = r.choice(tests)
                    failed_tests += 1
                    failures.write(json.dumps({
                        "url": url, "pkg": pkg, "test": test, "status": "FAIL", "mode": "",
                        "builder": b["name"], "repo": "go", "goos": b["goos"], "goarch": b["goarch"],
                        "date": date, "commit": commit,
                        "output": f"--- FAIL: {test} ({r.random():.2f}s)\n    x_test.go:{r.randint(10, 999)}: unexpected result\n",
                        "log": "",
                    }) + "\n")
    print(f"{args.commits} commits x {len(builders)} builders = {args.commits * len(builders)} builds, "
          f"{failed_tests} failed tests, {len(tests)} (pkg, test) pairs from the issues")


if __name__ == "__main__":
    main()
