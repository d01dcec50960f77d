"""Identical conditions: what every agent of a study shares, whatever its family.

- `profiles`: what success means on an env and the returns that normalise to 0 and 1;
- `envs`: the one env factory (training: seeded, success marked, Monitor, one-env DummyVecEnv;
  evaluation: one env per episode);
- `seeding`: one seeding block, one thread, the evaluation episodes' reset seeds;
- `evaluation`: evaluation episodes stepped together, one batched `predict` per step;
- `callbacks`: the callbacks every run gets (episode recorder, evaluator, run guard);
- `tensorboard`: event files of the harness's own beside a run's (HParams, bands, layouts).

The callbacks are SB3 `BaseCallback`s, so importing them loads SB3 and torch: they are imported
on first use, and reading a study (which needs profiles and env ids) stays light.
"""

from typing import TYPE_CHECKING

from harness.conditions.envs import (
    SuccessInfo,
    check_env_id,
    make_env,
    make_eval_envs,
    make_training_env,
    register_from,
    time_limit,
)
from harness.conditions.evaluation import EpisodeResult, Predictor, play_evaluation, run_episodes
from harness.conditions.profiles import (
    DECLARABLE,
    PROFILES,
    SUCCESS_FORMS,
    EnvProfile,
    EpisodeRules,
    SuccessRule,
    profile_for,
)
from harness.conditions.seeding import (
    EVAL_SEED_BASE,
    evaluation_seeds,
    isolated_random_state,
    seed_everything,
    single_thread,
)
from harness.errors import ProfileError
from harness.imports import lazy_exports

if TYPE_CHECKING:  # imported on first use below: SB3 and torch; TensorBoard's protos
    from harness.conditions import tensorboard
    from harness.conditions.callbacks import EpisodeRecorder, Evaluator, NonFiniteLossError, RunGuard

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(
            ("EpisodeRecorder", "Evaluator", "NonFiniteLossError", "RunGuard"), "harness.conditions.callbacks"
        ),
        "tensorboard": "harness.conditions.tensorboard",
    },
)

__all__ = [
    "DECLARABLE",
    "EVAL_SEED_BASE",
    "PROFILES",
    "SUCCESS_FORMS",
    "EnvProfile",
    "EpisodeRecorder",
    "EpisodeResult",
    "EpisodeRules",
    "Evaluator",
    "NonFiniteLossError",
    "Predictor",
    "ProfileError",
    "RunGuard",
    "SuccessInfo",
    "SuccessRule",
    "check_env_id",
    "evaluation_seeds",
    "isolated_random_state",
    "make_env",
    "make_eval_envs",
    "make_training_env",
    "play_evaluation",
    "profile_for",
    "register_from",
    "run_episodes",
    "seed_everything",
    "single_thread",
    "tensorboard",
    "time_limit",
]
