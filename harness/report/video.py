"""Episodes of a saved model, rendered to frames and written with moviepy (GIF and MP4).

    results, frames = record_episodes(model, "CartPole-v1", seeds, render=[0])
    write_gif(frames[0], "agent.gif", fps=render_fps("CartPole-v1"))   # small: ~300 px, every 2nd frame
    write_mp4(frames[0], "agent.mp4", fps=render_fps("CartPole-v1"))   # full size, every frame

The episodes are played exactly as an evaluation plays them (`harness.conditions.evaluation.run_episodes`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from harness.conditions import EpisodeResult, EpisodeRules, Predictor, make_env, play_evaluation

GIF_WIDTH = 300
"""GIF frames are scaled down by a whole factor to about this width (pixels): 600 -> 300 on CartPole."""
GIF_FRAME_STEP = 2
"""The GIF keeps every 2nd frame (and plays at half the frame rate: real time)."""


def render_fps(env_id: str) -> int:
    """The env's own rendering frame rate (`metadata["render_fps"]`; 50 for CartPole), or 30."""
    env = make_env(env_id)
    try:
        return int(env.metadata.get("render_fps") or 30)
    finally:
        env.close()


def record_episodes(
    model: Predictor,
    env_id: str,
    seeds: Sequence[int],
    render: Sequence[int] = (0,),
    rules: EpisodeRules | None = None,
    step: int = 0,
) -> tuple[list[EpisodeResult], dict[int, list[np.ndarray]]]:
    """Play one deterministic episode per seed exactly as an evaluation after `step` env steps of
    training does (`play_evaluation`: the same envs, all stepped together, the same random
    streams), so that the results equal the evaluation's; return them and the frames of the
    episodes listed in `render` (by index; each frame shape (height, width, 3), uint8, the first
    one the start state). `rules`: the env profile's success rule and time limit, as the run's
    evaluation had them."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws off-screen
    frames: dict[int, list[np.ndarray]] = {i: [] for i in render}
    envs = [make_env(env_id, rules, render_mode="rgb_array" if i in frames else None) for i in range(len(seeds))]

    def keep_frame(i: int, env: Any) -> None:
        if i in frames:
            frames[i].append(np.asarray(env.render()))

    try:
        results = play_evaluation(model, envs, seeds, step, on_step=keep_frame)
    finally:
        for env in envs:
            env.close()
    return results, frames


def write_gif(frames: Sequence[np.ndarray], path: pathlib.Path, fps: int) -> None:
    """A small looping GIF: frames scaled to about `GIF_WIDTH` pixels wide, every `GIF_FRAME_STEP`-th
    kept, played at `fps / GIF_FRAME_STEP` (real time)."""
    small = [_scale(frame, GIF_WIDTH) for frame in frames[::GIF_FRAME_STEP]]
    _clip(small, fps / GIF_FRAME_STEP).write_gif(str(path), fps=fps / GIF_FRAME_STEP, logger=None)


def write_mp4(frames: Sequence[np.ndarray], path: pathlib.Path, fps: int) -> None:
    """An H.264 MP4 of every frame at full size, played at `fps`."""
    even = [frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2] for frame in frames]  # H.264 wants even sizes
    _clip(even, fps).write_videofile(str(path), fps=fps, codec="libx264", audio=False, logger=None)


def write_video(frames: Sequence[np.ndarray], path: pathlib.Path, fps: int) -> None:
    """`write_gif` for a path ending in .gif, `write_mp4` otherwise."""
    if path.suffix.lower() == ".gif":
        write_gif(frames, path, fps)
    else:
        write_mp4(frames, path, fps)


def _scale(frame: np.ndarray, width: int) -> np.ndarray:
    """Shrink by the whole factor that brings the width nearest `width` (box filter)."""
    factor = max(1, round(frame.shape[1] / width))
    return frame if factor == 1 else np.asarray(Image.fromarray(frame).reduce(factor))


def _clip(frames: Sequence[np.ndarray], fps: float) -> Any:  # a moviepy ImageSequenceClip
    if not frames:
        raise ValueError("no frames to write")
    from moviepy import ImageSequenceClip  # imported here: moviepy is slow to import

    return ImageSequenceClip(list(frames), fps=fps)
