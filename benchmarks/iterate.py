"""`make bench-iterate`: how long one change to one agent costs, on the default study.

1. The default study (`cartpole`, 6 agents x 10 seeds) complete in `RUNS_DIR/cartpole-v1` (it is
   run first if it is not: about 8 minutes on 2 cores); a copy of it is what is measured, so the
   folder itself is left as it is.
2. The report of the copy from scratch (no cache), without and with the episode videos; then
   again without videos, its cache warm: what `harness report` costs after a change.
3. One hyperparameter of `tabular_q` changed (`min_learning_rate` 0.1 -> 0.05) and `harness
   compare` timed until its new report (with videos) is written: only `tabular_q`'s 10 pairs run;
   the other agents' runs, intervals and videos are reused.
4. The cached report checked against one built from scratch: the same summary.csv and README
   (but its date line).
5. What running the slowest pairs first gains: the study's makespan on `--jobs` workers computed
   from each pair's recorded wall time (`run.json` timings), pairs started in the study's order
   against longest first (free of the machine's noise; a measured before/after is
   `HARNESS_SCHEDULE=study-order make compare` against `make compare`).

    python -m benchmarks.iterate [--runs-dir runs] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from harness.store import is_complete, read_record
from harness.studies import load_study

STUDY = "cartpole"
CHANGE = ('[agents.tabular_q]\nkind = "tabular_q"', '[agents.tabular_q]\nkind = "tabular_q"\nmin_learning_rate = 0.05')


def harness(*args: object) -> float:
    """Run `python -m harness ARGS`; its wall time in seconds (exit on failure)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"harness {' '.join(map(str, args))} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.iterate", description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=pathlib.Path, default=pathlib.Path("runs"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    study = load_study(STUDY)
    source = args.runs_dir / study.name
    pairs = [source / spec.label / f"seed_{seed}" for spec in study.agents for seed in study.settings.seeds]
    if not all(is_complete(path) for path in pairs):
        print(f"running the default study into {source} first ...", flush=True)
        seconds = harness("compare", STUDY, "--runs-dir", args.runs_dir, "--jobs", args.jobs, "--no-report")
        print(f"  {seconds:.1f} s")
    figures = []
    with tempfile.TemporaryDirectory(prefix="bench-iterate-") as tmp:
        root = pathlib.Path(tmp)
        runs = root / "runs"
        shutil.copytree(source, runs / study.name, ignore=shutil.ignore_patterns(".cache", ".lock", ".superseded"))
        study_dir = runs / study.name
        cold = harness("report", study_dir, "--out", root / "report", "--no-video")
        figures.append(("report from scratch, no video", cold))
        scratch = {name: (root / "report" / name).read_text() for name in ("summary.csv", "README.md")}
        shutil.rmtree(study_dir / ".cache")
        figures.append(("report from scratch, with video", harness("report", study_dir, "--out", root / "video")))
        warm = harness("report", study_dir, "--out", root / "report", "--no-video")  # the same command again
        figures.append(("report, cache warm, no video (target <= 5 s)", warm))
        cached = {name: (root / "report" / name).read_text() for name in ("summary.csv", "README.md")}
        same = scratch["summary.csv"] == cached["summary.csv"]
        same &= _without_date(scratch["README.md"]) == _without_date(cached["README.md"])

        text = (pathlib.Path(__file__).parent.parent / "harness" / "studies" / f"{STUDY}.toml").read_text()
        assert CHANGE[0] in text
        (root / "changed.toml").write_text(text.replace(CHANGE[0], CHANGE[1]))
        seconds = harness(
            "compare", root / "changed.toml", "--runs-dir", runs, "--reports-dir", root / "reports", "--jobs", args.jobs
        )
        figures.append(("change tabular_q, compare + report (target <= 30 s)", seconds))
    print(f"\nbench-iterate: the default study ({len(pairs)} pairs), {args.jobs} jobs\n")
    for name, seconds in figures:
        print(f"  {name:<55} {seconds:>7.1f} s")
    walls = {path: float(read_record(path).wall_time_s or 0.0) for path in pairs}
    in_order = makespan([walls[path] for path in pairs], args.jobs)
    slowest_first = makespan(sorted(walls.values(), reverse=True), args.jobs)
    print(f"\n  makespan of the recorded pairs on {args.jobs} workers (runs only, without the report):")
    print(f"  {'in the study order':<55} {in_order:>7.1f} s")
    print(f"  {'longest first':<55} {slowest_first:>7.1f} s  ({in_order / slowest_first:.2f}x)")
    print(f"\n  cached report identical to the one built from scratch: {'yes' if same else 'NO'}")
    return 0 if same else 1


def makespan(durations: list[float], workers: int) -> float:
    """When the last of `durations` ends, each started in order on the first free of `workers`."""
    free = [0.0] * workers
    for duration in durations:
        free.sort()
        free[0] += duration
    return max(free)


def _without_date(readme: str) -> list[str]:
    return [line for line in readme.splitlines() if not line.startswith("- **date**")]


if __name__ == "__main__":
    sys.exit(main())
