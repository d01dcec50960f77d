"""`harness play RUNS_DIR/STUDY/AGENT/seed_S`: load a run's final model and watch it play.

Episode i starts from `reset(seed=eval_seed + i)`, the study's evaluation episodes, and all are
played together as an evaluation plays them (so `--episodes` equal to the study's
`n_eval_episodes` replays the run's final evaluation exactly); the policy is deterministic. The env id, the evaluation
seed and the model file come from the run's `run.json` (the record of what that run used).
"""

from __future__ import annotations

import pathlib
from typing import Any

from harness.agents import is_in_memory, register_pickled, registered, resolve_kind
from harness.conditions import EpisodeResult, EpisodeRules, evaluation_seeds, register_from
from harness.errors import KindError, PlaybackError, one_line
from harness.report.video import record_episodes, render_fps, write_video
from harness.schema import CLASS_FILE, RUN_FILE
from harness.store import RunRecord, read_record
from harness.studies import LEGACY_SETTINGS

VIDEO_SUFFIXES = (".mp4", ".gif")


def play(run_dir: pathlib.Path, episodes: int, video: pathlib.Path | None) -> list[EpisodeResult]:
    """Play `episodes` deterministic episodes of the final model in `run_dir`; with `video`
    (.mp4 or .gif), write all their frames there, one episode after the other."""
    if episodes < 1:
        raise PlaybackError(f"episodes: must be >= 1, got {episodes}")
    if video is not None and video.suffix.lower() not in VIDEO_SUFFIXES:
        raise PlaybackError(f"{video}: the video must end in .mp4 or .gif")
    record = _complete_record(run_dir)
    model = load_model(run_dir, record)
    env_id = str(record.env_id)
    assert record.evaluation is not None and record.evaluation.eval_seed is not None  # _complete_record checked
    seeds = evaluation_seeds(episodes, record.evaluation.eval_seed)
    rules = episode_rules(record)
    results, frames_by_episode = record_episodes(
        model, env_id, seeds, render=range(episodes) if video else (), rules=rules, step=record.steps_done or 0
    )
    if video is not None:
        frames = [frame for i in range(episodes) for frame in frames_by_episode[i]]
        video.parent.mkdir(parents=True, exist_ok=True)
        write_video(frames, video, render_fps(env_id))
    return results


def episode_rules(record: RunRecord) -> EpisodeRules:
    """The success rule and time limit a run was evaluated under (`run.json`'s `profile`; a run
    from before env profiles was measured by an episode lasting to the time limit)."""
    return record.profile or EpisodeRules(**LEGACY_SETTINGS["profile"])


def model_path(run_dir: pathlib.Path, record: RunRecord) -> pathlib.Path:
    """The saved model of a run; `PlaybackError` when it is not there."""
    path = run_dir / str(record.model_file)
    if not path.is_file():
        raise PlaybackError(f"{path}: model file missing")
    return path


def load_model(run_dir: pathlib.Path, record: RunRecord) -> Any:
    """The final model of a complete run (its kind's `load` on `run.json`'s `model_file`; the
    class is imported as the run resolved it), its random sources seeded with the run's seed: a
    policy that draws random numbers even when asked to be deterministic (the random agent) then
    plays the same episodes every time."""
    path = model_path(run_dir, record)
    code_dir = pathlib.Path(record.code_dir) if record.code_dir else None
    try:
        register_from(str(record.env_id), code_dir)
        kept = run_dir / CLASS_FILE
        if is_in_memory(str(record.kind)) and registered(str(record.kind)) is None and kept.is_file():
            register_pickled(str(record.kind), kept.read_bytes())  # the notebook's class the run kept
        kind = resolve_kind(str(record.kind), code_dir)
    except (KindError, ValueError) as error:
        raise PlaybackError(f"{run_dir / RUN_FILE}: cannot import the agent's class or env: {error}") from None
    try:
        model = kind.load(path)
        if hasattr(model, "set_random_seed"):
            model.set_random_seed(int(record.seed or 0))
    except Exception as error:  # any load failure is reported in one line
        raise PlaybackError(f"{path}: cannot load the model: {one_line(error, with_type=True)}") from None
    return model


def _complete_record(run_dir: pathlib.Path) -> RunRecord:
    if not run_dir.is_dir():
        raise PlaybackError(f"{run_dir}: no such run folder")
    record = read_record(run_dir)
    if record is None:
        raise PlaybackError(f"{run_dir / RUN_FILE}: missing or unreadable; is this a run folder?")
    if not record.complete:
        why = f": {record.error}" if record.error else ""
        raise PlaybackError(f"{run_dir / RUN_FILE}: the run is not complete (status {record.status}{why})")
    missing = [key for key in ("kind", "env_id", "evaluation", "model_file") if not getattr(record, key)]
    if not missing and record.evaluation is not None and record.evaluation.eval_seed is None:
        missing = ["evaluation.eval_seed"]
    if missing:
        raise PlaybackError(f"{run_dir / RUN_FILE}: incomplete record, no {missing[0]!r}")
    return record
