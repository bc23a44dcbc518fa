"""The end-to-end echo phase (bench_e2e) of another commit and of this tree, interleaved, in one run.

The machine is shared and its load moves by the minute: alternating the variants (A B C A B C ...) and reading CPU
per job beside jobs/s is what makes their ratio mean something. The other commit runs from a `git archive` copy
in a temporary directory, with this venv (its own code wins on sys.path: it is the working directory).

Run: .venv/bin/python -m tests.bench.bench_e2e_ab [--base 1466d17] [--rounds 2] [--variants ours,no-limit,no-cap]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.bench.harness import emit, table
from tests.bench.realstack import ROOT

VARIANTS: dict[str, list[str]] = {
    "ours": [],
    "no-limit": ["--tenant-rate-limit", ""],
    "no-cap": ["--max-waits-per-token", "0"],
    "gthread": ["--server", "gthread"],
}


def _run(cwd: Path, extra: list[str]) -> dict[str, Any]:
    out = cwd / "tests" / "bench" / "results" / "e2e.json"
    if out.exists():
        out.unlink()
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    proc = subprocess.run([sys.executable, "-m", "tests.bench.bench_e2e", *extra], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"bench_e2e {extra} in {cwd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(out.read_text())
    data["load_average"] = os.getloadavg()
    return data


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default="1466d17", help="the commit to compare with (git rev)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default="ours,no-limit,no-cap")
    args = ap.parse_args(argv)
    base_dir = Path(tempfile.mkdtemp(prefix="fp-e2e-base-"))
    try:
        archive = subprocess.run(["git", "archive", args.base], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base_dir)], input=archive, check=True)
        runs: dict[str, list[dict[str, Any]]] = {}
        for _ in range(args.rounds):
            runs.setdefault("base", []).append(_run(base_dir, []))
            for name in args.variants.split(","):
                runs.setdefault(name, []).append(_run(ROOT, VARIANTS[name]))
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)
    rows: list[tuple[str, ...]] = [("variant", "round", "jobs/s", "CPU ms/job", "web", "workers", "postgres", "redis",
                                    "client", "steal", "load 1m")]
    summary: dict[str, Any] = {}
    for name, results in runs.items():
        for i, r in enumerate(results):
            cpu, n = r["cpu"], r["jobs"]

            def ms(key: str, cpu: dict[str, float] = cpu, n: int = n) -> float:
                return sum(v for k, v in cpu.items() if k.startswith(key)) * 1000 / n

            total = sum(v for k, v in cpu.items() if k not in ("wall_s", "machine_cores_busy", "machine_cores_stolen"))
            rows.append((name, str(i + 1), f"{r['jobs_per_s']:.1f}", f"{total * 1000 / n:.2f}", f"{ms('gunicorn'):.2f}",
                         f"{ms('dramatiq'):.2f}", f"{ms('postgres'):.2f}", f"{ms('redis'):.2f}", f"{ms('bench'):.2f}",
                         f"{cpu['machine_cores_stolen']:.2f}", f"{r['load_average'][0]:.1f}"))
        summary[name] = {"jobs_per_s": [r["jobs_per_s"] for r in results],
                         "cpu_ms_per_job": [sum(v for k, v in r["cpu"].items() if k not in
                                                ("wall_s", "machine_cores_busy", "machine_cores_stolen")) * 1000 / r["jobs"]
                                            for r in results]}
    print(table(rows))
    emit("e2e_ab", {"base": args.base, "runs": runs, "summary": summary})
    return summary


if __name__ == "__main__":
    main()
