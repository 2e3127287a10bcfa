#!/usr/bin/env python3
"""Stand-in for InferenceX's throughput client in fleet's miniature
checkout: runs `fleet bench` (the binary named by FIXTURE_FLEET_BENCH)
with the same arguments, then marks the result it wrote with
"fixture_client": "inferencex-checkout", so that a test can tell this
client from fleet's own (client = "fleet" replaces this file)."""
import json
import os
import subprocess
import sys


def option(name):
    args = sys.argv[1:]
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return None


def main():
    bench = os.environ.get("FIXTURE_FLEET_BENCH")
    if not bench:
        sys.exit("benchmark_serving.py (fixture): FIXTURE_FLEET_BENCH is not set")
    rc = subprocess.call([bench, "bench"] + sys.argv[1:])
    if rc != 0:
        sys.exit(rc)
    name = option("--result-filename")
    if name is None:
        return
    path = os.path.join(option("--result-dir") or ".", name)
    with open(path) as f:
        result = json.load(f)
    result["fixture_client"] = "inferencex-checkout"
    with open(path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
