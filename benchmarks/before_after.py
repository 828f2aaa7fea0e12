"""The bench of an earlier commit and of this tree, interleaved, against one server.

    python benchmarks/before_after.py --before 4e26fce --rows 300000 --rounds 2

checks the commit out in a temporary worktree, builds its extension there,
then runs ``python -m pgcopy_fast bench`` from the old tree and from this
one in turn (``--rounds`` times each), all against one throwaway server, and
prints client CPU µs/row and rows/s side by side (the best round of each).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pgcopy_fast.tempserver import TempServer

ROOT = Path(__file__).resolve().parent.parent


def _bench(tree: Path, dsn: str, args: argparse.Namespace, out: Path) -> list[Any]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", "pgcopy_fast", "bench", "--dsn", dsn]
    cmd += ["--rows", str(args.rows), "--repeat", str(args.repeat)]
    cmd += ["--peers", args.peers, "--json", str(out)]
    cmd += ["--workloads", args.workloads, "--directions", args.directions]
    # cwd outside both trees, so that PYTHONPATH alone says which one runs
    subprocess.run(cmd, env=env, cwd=tempfile.gettempdir(), check=True)
    results: list[Any] = json.loads(out.read_text())["results"]
    return results


def main() -> None:
    """Run both trees in turn and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--peers", default="pgcopy_fast[c],pgcopy_fast[async],pgcopy_fast[py]"
    )
    parser.add_argument("--workloads", default="wide,narrow")
    parser.add_argument("--directions", default="in,out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old), args.before],
            cwd=ROOT,
            check=True,
        )
        try:
            subprocess.run(
                [sys.executable, "setup.py", "build_ext", "--inplace", "-q"],
                cwd=old,
                check=True,
            )
            table: dict[tuple[str, str, str], dict[str, list[Any]]] = {}
            with TempServer() as srv:
                for rnd in range(args.rounds):
                    for name, tree in (("before", old), ("after", ROOT)):
                        out = Path(tmp) / f"{name}-{rnd}.json"
                        for r in _bench(tree, srv.dsn, args, out):
                            key = (r["workload"], r["direction"], r["peer"])
                            row = table.setdefault(key, {})
                            row.setdefault(name, []).append(r)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old)],
                cwd=ROOT,
                check=False,
            )
    print(
        "| workload | direction | peer | CPU µs/row before | after "
        "| rows/s before | after |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for (workload, direction, peer), runs in table.items():
        cpu = [min(r["client_cpu_us_per_row"] for r in runs[n]) for n in runs]
        rps = [max(r["rows_per_s"] for r in runs[n]) for n in runs]
        print(
            f"| {workload} | {direction} | {peer} | {cpu[0]} | {cpu[1]} "
            f"| {rps[0]:,} | {rps[1]:,} |"
        )


if __name__ == "__main__":
    main()
