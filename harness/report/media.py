"""The report's episodes: one episode of each agent's median seed, rendered to a GIF and an MP4,
from the numbers model (which run to show) and the run's saved model.

The episode is the first evaluation episode, played by the final policy exactly as its final
evaluation played it (`harness.report.video.record_episodes`), under the run's success rule and time
limit. One agent's failure to render (a model that no longer loads) is a row of the table, not
the end of the report. A rendering is cached (`harness.store.Cache`) by the saved model's bytes and
what the episode depends on, so an agent whose runs did not change is not rendered again.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import pandas as pd

from harness.analysis import EnvResults, StudyResults
from harness.analysis import columns as col
from harness.conditions import evaluation_seeds
from harness.errors import one_line
from harness.report.playback import episode_rules, load_model, model_path
from harness.report.video import record_episodes, render_fps, write_gif, write_mp4
from harness.store import Cache, file_key

COLUMNS = ("env_id", "agent", "seed", "final_return", "episode_return", "length", "gif", "mp4", "error")


def episode_names(env_id: str | None, label: str) -> tuple[str, str]:
    """(GIF, MP4) file names of an agent's episode: `episode_<label>.*`, or
    `episode_<env_id>_<label>.*` in a study across envs."""
    stem = f"episode_{env_id.rsplit(':', 1)[-1]}_{label}" if env_id is not None else f"episode_{label}"
    return f"{stem}.gif", f"{stem}.mp4"


def render(results: StudyResults, out: pathlib.Path, cache: Cache | None = None) -> pd.DataFrame:
    """Render one episode of each agent of each env into `out`; one row per (env, agent)
    (`COLUMNS`; `error` is '' when it was rendered). With `cache`, an episode rendered before from
    the same saved model is copied instead of rendered again."""
    rows = []
    for env in results.envs.values():
        rows += render_env(env, out, env.env_id if results.across_envs else None, cache or Cache(None))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def render_env(env: EnvResults, out: pathlib.Path, env_id: str | None, cache: Cache) -> list[dict]:
    settings = env.study.settings
    fps = render_fps(env.env_id)
    final = env.runs.set_index([col.AGENT, col.SEED])[col.FINAL_RETURN]
    rows = []
    for label in env.labels:
        run = env.shown_run(label)
        gif, mp4 = episode_names(env_id, label)
        row = {
            "env_id": env.env_id,
            "agent": label,
            "seed": run.seed,
            "final_return": final[(label, run.seed)],
            "episode_return": float("nan"),
            "length": 0,
            "gif": gif,
            "mp4": mp4,
            "error": "",
        }
        try:
            pair = next(p for p in env.files.pairs if p.label == label and p.seed == run.seed)
            record = run.record
            seeds = evaluation_seeds(settings.n_eval_episodes, settings.eval_seed)
            rules = episode_rules(record)
            model_file = model_path(pair.path, record)
            step = record.steps_done or 0  # the final evaluation's
            key = file_key("episode", env.env_id, record.kind, run.seed, seeds, rules, fps, step, files=[model_file])
            kept = cache.media(key)
            if kept is not None:
                shutil.copyfile(kept / "episode.gif", out / gif)
                shutil.copyfile(kept / "episode.mp4", out / mp4)
                facts = json.loads((kept / "done.json").read_text())
            else:
                model = load_model(pair.path, record)
                results, frames = record_episodes(model, env.env_id, seeds, render=[0], rules=rules, step=step)
                write_gif(frames[0], out / gif, fps)
                write_mp4(frames[0], out / mp4, fps)
                facts = {"episode_return": results[0].episode_return, "length": results[0].length}
                cache.keep_media(key, {"episode.gif": out / gif, "episode.mp4": out / mp4}, facts)
            row.update(episode_return=facts["episode_return"], length=facts["length"])
        except Exception as error:  # one agent's video must not stop the report
            row.update(error=one_line(error), gif="", mp4="")
        rows.append(row)
    return rows
