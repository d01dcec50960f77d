"""Putting a report folder in place so that it holds either the previous report or the whole new
one: the new one is built in a temporary folder next to it and swapped in by renames.

A build killed midway leaves its temporary folder (and perhaps the previous report moved aside);
the next build cleans them up and brings the previous report back if the folder is missing.
"""

from __future__ import annotations

import os
import pathlib
import shutil
from collections.abc import Callable

from harness.errors import ReportError

README_FILE = "README.md"
SUMMARY_FILE = "summary.csv"


def publish(out: pathlib.Path, study_dir: pathlib.Path, build: Callable[[pathlib.Path], None]) -> pathlib.Path:
    """Call `build(folder)` on a fresh temporary folder next to `out`, then replace `out` with it.
    `ReportError` (one line) for an `out` that is not a report folder or overlaps the runs folder
    `study_dir`. Returns `out / README.md`."""
    check_out(out, study_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"{out.parent}: cannot create: {' '.join(str(error).split())}") from None
    remove_leftovers(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    tmp.mkdir()
    try:
        build(tmp)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return out / README_FILE


def check_out(out: pathlib.Path, study_dir: pathlib.Path) -> None:
    """Refuse an output folder that is not a report (it will be replaced whole) or that overlaps
    the runs."""
    out_abs, runs_abs = out.resolve(), study_dir.resolve()
    if out_abs == runs_abs or runs_abs in out_abs.parents or out_abs in runs_abs.parents:
        raise ReportError(f"{out}: the report folder must not be, contain or sit inside the runs folder {study_dir}")
    if out.exists():
        is_report = out.is_dir() and (out / README_FILE).is_file() and (out / SUMMARY_FILE).is_file()
        if not is_report or any(path.is_dir() for path in out.iterdir()):
            raise ReportError(f"{out}: exists and is not a report (it would be replaced); choose another --out")


def remove_leftovers(out: pathlib.Path) -> None:
    """Clean up after earlier builds of `out` that were killed midway (their process is gone): a
    report they had moved aside comes back if `out` is missing, their temporary folders go; a build
    running now in another process keeps its own."""
    for path in sorted(out.parent.glob(f".{out.name}.old-*")) + sorted(out.parent.glob(f".{out.name}.tmp-*")):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and (int(pid) == os.getpid() or not _process_alive(int(pid))):
            if ".old-" in path.name and not out.exists():
                os.replace(path, out)
            else:
                shutil.rmtree(path, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True
