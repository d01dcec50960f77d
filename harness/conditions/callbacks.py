"""The callbacks every run gets, whatever its agent: plain subclasses of SB3's `BaseCallback`.

- `EpisodeRecorder`: one row per finished training episode, from the Monitor/`SuccessInfo` info;
  logs `rollout/success_rate` and each episode's return, length and success to TensorBoard.
- `Evaluator`: the deterministic policy on the study's evaluation episodes before training, every
  `eval_freq` env steps, and at the end; logs `eval/mean_reward`, `eval/mean_ep_length`,
  `eval/success_rate`, keeps one row per evaluation episode, and times itself.
- `RunGuard`: stops training at exactly the budget (SB3's loop may overshoot to the end of a
  rollout), fails the run on a non-finite `train/loss`, and reports progress.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import TensorBoardOutputFormat

from harness.conditions.envs import make_eval_envs
from harness.conditions.evaluation import play_evaluation
from harness.conditions.profiles import EpisodeRules
from harness.conditions.seeding import evaluation_seeds
from harness.schema import EpisodeRow, EvalRow


class NonFiniteLossError(FloatingPointError):
    """The agent logged a NaN or infinite `train/loss`."""


def _tensorboard_writers(callback: BaseCallback) -> list[TensorBoardOutputFormat]:
    return [f for f in callback.logger.output_formats if isinstance(f, TensorBoardOutputFormat)]


class EpisodeRecorder(BaseCallback):
    """Records every finished training episode (see `EpisodeRow`).

    `wall_time_s` is measured: seconds from the start of training to the step that ended the
    episode. `success` is `info["is_success"]` (time limit reached, not terminated).
    """

    def __init__(self, stats_window_size: int = 100) -> None:
        super().__init__()
        self.rows: list[EpisodeRow] = []
        self._successes: deque[bool] = deque(maxlen=stats_window_size)
        self._start = 0.0
        self._writers: list[TensorBoardOutputFormat] = []

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()
        self._writers = _tensorboard_writers(self)

    def _on_step(self) -> bool:
        dones = self.locals["dones"]
        for i in range(len(dones)):
            if dones[i]:
                self._record(self.locals["infos"][i])
        return True

    def _record(self, info: dict[str, Any]) -> None:
        episode = info.get("episode")
        if episode is None:
            raise RuntimeError("the training env is not wrapped in Monitor: no episode statistics")
        length = int(episode["l"])
        truncated = bool(info.get("truncated", info.get("TimeLimit.truncated", False)))
        terminated = bool(info.get("terminated", not truncated))
        success = bool(info.get("is_success", False))  # SuccessInfo marks it by the env profile's rule
        row = EpisodeRow(
            episode=len(self.rows),
            start_step=self.num_timesteps - length,
            end_step=self.num_timesteps,
            episode_return=float(episode["r"]),
            length=length,
            terminated=terminated,
            truncated=truncated,
            success=success,
            wall_time_s=time.perf_counter() - self._start,
        )
        self.rows.append(row)
        self._successes.append(success)
        self.logger.record("rollout/success_rate", float(np.mean(self._successes)))
        values = {"episode/return": row.episode_return, "episode/length": row.length, "episode/success": float(success)}
        for writer in self._writers:
            writer.write(values, dict.fromkeys(values), step=row.end_step)


class Evaluator(BaseCallback):
    """Evaluates the deterministic policy before training, every `eval_freq` steps, and at the end.

    The `n_episodes` evaluation episodes are played together (`run_episodes`), episode i reset
    with `eval_seed + i`, the same for every agent and every evaluation point. Whatever the policy
    draws from `random`, numpy's or torch's global generator comes from a stream of its own,
    seeded by the evaluation's first reset seed and step, and leaves training's where it was.

    :param env_id: the study's env.
    :param eval_freq: env steps between evaluations.
    :param n_episodes: episodes per evaluation.
    :param eval_seed: seed of the first evaluation episode.
    :param rules: the env profile's success rule (it marks `success`) and time limit.
    :param stop_below: a tuning trial's run: env step -> return; training stops at an evaluation
        of one of these steps whose mean return is below it (`stopped_at` says where).
    """

    def __init__(
        self,
        env_id: str,
        eval_freq: int,
        n_episodes: int,
        eval_seed: int,
        rules: EpisodeRules | None = None,
        stop_below: Mapping[int, float] | None = None,
    ) -> None:
        super().__init__()
        self.eval_freq = eval_freq
        self.stop_below = dict(stop_below or {})
        self.stopped_at: int | None = None
        self.seeds = evaluation_seeds(n_episodes, eval_seed)
        self.envs = make_eval_envs(env_id, n_episodes, rules)
        self.rows: list[EvalRow] = []
        self.eval_time_s = 0.0
        self._last_eval_step = -1

    def _on_training_start(self) -> None:
        self.evaluate()

    def _on_step(self) -> bool:
        if self.num_timesteps % self.eval_freq == 0 and not self._made_at_the_end():
            self.evaluate()
            floor = self.stop_below.get(self.num_timesteps)
            mean = float(np.mean([row.episode_return for row in self.rows[-len(self.seeds) :]]))
            if floor is not None and mean < floor:
                self.stopped_at = self.num_timesteps
                return False
        return True

    def _made_at_the_end(self) -> bool:
        """Whether this step's evaluation is the final one of an agent that may learn after its
        last step: `_on_training_end` makes it, once, of the policy the agent ends with."""
        budget = self.locals.get("total_timesteps")
        last = budget is not None and self.num_timesteps >= budget
        return last and getattr(self.model, "learns_after_its_last_step", False)

    def _on_training_end(self) -> None:
        """The final evaluation: of the policy the agent ended with (made again at the last step when
        the agent may have learnt after it, `learns_after_its_last_step`)."""
        self.num_timesteps = self.model.num_timesteps
        if self.num_timesteps == self._last_eval_step and getattr(self.model, "learns_after_its_last_step", False):
            self.rows = [row for row in self.rows if row.eval_step != self.num_timesteps]
            self._last_eval_step = -1
        self.evaluate()

    def evaluate(self) -> None:
        """Play the evaluation episodes now (once per step count), log and keep the results."""
        step = self.num_timesteps
        if step == self._last_eval_step:
            return
        self._last_eval_step = step
        start = time.perf_counter()
        results = play_evaluation(self.model, self.envs, self.seeds, step)
        self.eval_time_s += time.perf_counter() - start
        self.rows += [EvalRow(step, i, r.seed, r.episode_return, r.length, r.success) for i, r in enumerate(results)]
        self.logger.record("eval/mean_reward", float(np.mean([r.episode_return for r in results])))
        self.logger.record("eval/mean_ep_length", float(np.mean([r.length for r in results])))
        self.logger.record("eval/success_rate", float(np.mean([r.success for r in results])))
        self.logger.record("time/total_timesteps", step, exclude="tensorboard")
        self.logger.dump(step)

    def close(self) -> None:
        """Close the evaluation envs."""
        for env in self.envs:
            env.close()


class RunGuard(BaseCallback):
    """Stops at exactly `total_timesteps`, raises `NonFiniteLossError` on a NaN/inf `train/loss`,
    and calls `progress(num_timesteps)` about every `report_every` seconds and at the end."""

    def __init__(
        self,
        total_timesteps: int,
        progress: Callable[[int], None] | None = None,
        report_every: float = 0.5,
    ) -> None:
        super().__init__()
        self.total_timesteps = total_timesteps
        self.progress = progress
        self.report_every = report_every
        self._values: dict[str, Any] = {}
        self._next_report = 0.0

    def _on_training_start(self) -> None:
        self._values = self.model.logger.name_to_value
        self._next_report = time.monotonic() + self.report_every

    def _on_step(self) -> bool:
        loss = self._values.get("train/loss")
        if loss is not None and not math.isfinite(loss):
            raise NonFiniteLossError(f"train/loss is {loss} at env step {self.num_timesteps}")
        if self.progress is not None and time.monotonic() >= self._next_report:
            self.progress(self.num_timesteps)
            self._next_report = time.monotonic() + self.report_every
        return self.num_timesteps < self.total_timesteps

    def _made_at_the_end(self) -> bool:
        """Whether this step's evaluation is the final one of an agent that may learn after its
        last step: `_on_training_end` makes it, once, of the policy the agent ends with."""
        budget = self.locals.get("total_timesteps")
        last = budget is not None and self.num_timesteps >= budget
        return last and getattr(self.model, "learns_after_its_last_step", False)

    def _on_training_end(self) -> None:
        if self.progress is not None:
            self.progress(self.model.num_timesteps)
