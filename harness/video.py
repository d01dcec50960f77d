"""Episodes of a saved model, rendered to frames and written with moviepy (GIF and MP4).

    result, frames = record_episode(model, "CartPole-v1", seed=1_000_000)
    write_gif(frames, "agent.gif", fps=render_fps("CartPole-v1"))   # small: ~300 px, every 2nd frame
    write_mp4(frames, "agent.mp4", fps=render_fps("CartPole-v1"))   # full size, every frame

The episode is played exactly as an evaluation episode: `make_env(env_id)` reset with `seed`, the
deterministic policy, one observation at a time (shape (1, *obs_shape)) through `predict`.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from harness.envs import make_env
from harness.evaluation import EpisodeResult, Predictor

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


def record_episode(
    model: Predictor, env_id: str, seed: int, render: bool = True
) -> tuple[EpisodeResult, list[np.ndarray]]:
    """Play one deterministic episode from `reset(seed=seed)`; return its result and, when
    `render`, its frames (each shape (height, width, 3), uint8; the first is the start state)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame draws off-screen
    env = make_env(env_id, render_mode="rgb_array" if render else None)
    frames: list[np.ndarray] = []
    try:
        obs, _ = env.reset(seed=int(seed))
        if render:
            frames.append(np.asarray(env.render()))
        total, length, terminated, truncated = 0.0, 0, False, False
        while not (terminated or truncated):
            actions, _ = model.predict(np.asarray(obs)[None], deterministic=True)
            action = np.asarray(actions).reshape(1, -1)[0]
            obs, reward, terminated, truncated, _ = env.step(action[0] if action.shape == (1,) else action)
            total += float(reward)
            length += 1
            if render:
                frames.append(np.asarray(env.render()))
    finally:
        env.close()
    return EpisodeResult(int(seed), total, length, bool(truncated and not terminated)), frames


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
