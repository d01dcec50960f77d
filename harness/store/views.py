"""A study folder's TensorBoard views: what `harness tensorboard` shows, apart from what it does not.

TensorBoard reads every event file below its logdir, and `runs/<study>/` holds, besides the
comparison (`<label>/seed_<s>/`, `<label>/across_seeds/`), harness tune's trials (`tune/`), the runs
set aside (`.superseded/`) and the report's cache. So each view is a folder of its own:

    runs/<study>/.tensorboard/comparison/    the comparison: a link to each agent's folder (an env's,
                                             across envs) and the HParams experiment and layout
    runs/<study>/tune/                       the tune: every trial (a session each) and its runs

The comparison's links are relative (`<label> -> ../../<label>`), so the folder moves as a whole;
TensorBoard follows them. A link to a folder not made yet (an agent whose runs have not started)
is made too: TensorBoard shows it once it is there.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from harness.store.files import top_folders
from harness.studies import TUNE_FOLDER

VIEWS = ".tensorboard"
COMPARISON = "comparison"


def comparison_view(study_dir: pathlib.Path, study: Any) -> pathlib.Path:
    """`runs/<study>/.tensorboard/comparison/`, linking to `study`'s top folders (its agents'
    labels, or its envs' folders across envs: `top_folders`) and to no other; the folder."""
    tops = top_folders(study)
    view = study_dir / VIEWS / COMPARISON
    view.mkdir(parents=True, exist_ok=True)
    for entry in view.iterdir():
        if entry.is_symlink() and entry.name not in tops:
            entry.unlink()  # an agent the study no longer has
    for top in tops:
        link = view / top
        target = pathlib.Path("..") / ".." / top
        if link.is_symlink() and pathlib.Path(os.readlink(link)) == target:
            continue
        temporary = view / f".{top}.{os.getpid()}.link"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(target, target_is_directory=True)
        os.replace(temporary, link)  # whole: another process sees the old link or the new one
    return view


def tune_view(study_dir: pathlib.Path) -> pathlib.Path:
    """`runs/<study>/tune/`: the trials of harness tune."""
    return study_dir / TUNE_FOLDER
