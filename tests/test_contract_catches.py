"""Every check of the agent contract can fail: a deliberately broken agent for each.

Each broken agent below is a hand-written agent (`RandomAgent`, `TabularQAgent`) with one hook or
method overridden the way a user might get it wrong. Wrapped in `HandWrittenKind`, as
`harness check-agent` wraps a user's class, it must fail its check with a message that names the
problem and says how to fix it, while the agent it was derived from passes the same check.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np
import pytest

from custom_agents import RandomAgent, TabularQAgent
from harness import agents
from harness.agents import HandWrittenKind

ENV_ID = "CartPole-v1"
BUDGET = 600


def subject(cls: type) -> agents.Subject:
    kind = HandWrittenKind(f"{__name__}:{cls.__name__}", cls)
    return agents.Subject(kind, kind.resolve({}), ENV_ID, BUDGET, seed=0)


class _Through:
    """A callback as a broken training loop sees it: everything passed on unless overridden."""

    def __init__(self, callback: Any, agent: Any = None) -> None:
        self._callback = callback
        self._agent = agent
        self.stopped = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._callback, name)


# -- surface -----------------------------------------------------------------------------------


class NoLoad(RandomAgent):
    """`load` taken away."""

    load = None  # type: ignore[assignment]


class CountsFromOne(RandomAgent):
    """`num_timesteps` starts at 1."""

    def _setup_model(self) -> None:
        self.num_timesteps = 1


class NoEnv(RandomAgent):
    """`get_env` forgets the env it was built on."""

    def get_env(self) -> Any:
        return None


# -- callback order ----------------------------------------------------------------------------


class _NoRolloutEnd(_Through):
    def on_rollout_end(self) -> None:
        pass


class NoRolloutEnd(RandomAgent):
    """Never calls `on_rollout_end`."""

    def _collect_rollout(self, callback: Any, log_interval: Any, total_timesteps: int) -> bool:
        return super()._collect_rollout(_NoRolloutEnd(callback), log_interval, total_timesteps)


class _HidesNewObs(_Through):
    def update_locals(self, locals_: dict[str, Any]) -> None:
        self._callback.update_locals({k: v for k, v in locals_.items() if k != "new_obs"})


class HidesNewObs(RandomAgent):
    """The loop's `new_obs` never reaches the callbacks' locals."""

    def _collect_rollout(self, callback: Any, log_interval: Any, total_timesteps: int) -> bool:
        return super()._collect_rollout(_HidesNewObs(callback), log_interval, total_timesteps)


class _StepBeforeCount(_Through):
    def on_step(self) -> bool:
        self._agent.num_timesteps -= 1
        try:
            return self._callback.on_step()
        finally:
            self._agent.num_timesteps += 1


class StepBeforeCount(RandomAgent):
    """Calls `on_step` before counting the env step (the callbacks see one step less)."""

    def _collect_rollout(self, callback: Any, log_interval: Any, total_timesteps: int) -> bool:
        return super()._collect_rollout(_StepBeforeCount(callback, self), log_interval, total_timesteps)


# -- log keys ----------------------------------------------------------------------------------


class NoLogs(RandomAgent):
    """Never dumps the logs."""

    def dump_logs(self) -> None:
        pass


# -- stopping ----------------------------------------------------------------------------------


class _IgnoresStop(_Through):
    def on_step(self) -> bool:
        if not self._callback.on_step():
            self.stopped = True
        return True


class IgnoresStop(RandomAgent):
    """Ignores a callback's False: trains to the end of the budget."""

    def _collect_rollout(self, callback: Any, log_interval: Any, total_timesteps: int) -> bool:
        return super()._collect_rollout(_IgnoresStop(callback), log_interval, total_timesteps)


class StopsAtEpisodeEnd(RandomAgent):
    """Heeds a callback's False only when the episode is over."""

    def _collect_rollout(self, callback: Any, log_interval: Any, total_timesteps: int) -> bool:
        late = _IgnoresStop(callback)
        return super()._collect_rollout(late, log_interval, total_timesteps) and not late.stopped


# -- saving ------------------------------------------------------------------------------------


class SavesNothing(RandomAgent):
    """`save` writes no file."""

    def save(self, path: str | pathlib.Path) -> None:
        pass


class ForgetsCounters(RandomAgent):
    """`save` writes the file with `num_timesteps` 0."""

    def save(self, path: str | pathlib.Path) -> None:
        counted, self.num_timesteps = self.num_timesteps, 0
        try:
            super().save(path)
        finally:
            self.num_timesteps = counted


class ForgetsTable(TabularQAgent):
    """`save` forgets the Q-table; `load` gives a fresh one."""

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        pass


# -- callback lists and progress bars ----------------------------------------------------------


class FirstOfList(RandomAgent):
    """Given a plain list of callbacks, calls only the first."""

    def _setup_learn(self, total_timesteps: int, callback: Any, *args: Any) -> Any:
        if isinstance(callback, list):
            callback = callback[0]
        return super()._setup_learn(total_timesteps, callback, *args)


class UncountedWarmUp(RandomAgent):
    """Takes 5 warm-up steps before training without calling the callbacks."""

    def _setup_learn(self, *args: Any) -> Any:
        total_timesteps, callback = super()._setup_learn(*args)
        assert self.env is not None
        for _ in range(5):
            self._last_obs, _, _, _ = self.env.step(self._sample_actions(self._last_obs))
            self.num_timesteps += 1
        return total_timesteps, callback


# -- predict -----------------------------------------------------------------------------------


class InvalidActions(RandomAgent):
    """`predict` gives an action outside the action space."""

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return np.full(len(obs), self.action_space.n)


class FirstActionOnly(RandomAgent):
    """`predict` gives one action for a batch."""

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return np.zeros(1, dtype=np.int64)


class BatchDependent(RandomAgent):
    """Deterministic `predict` whose action depends on the observation's place in the batch."""

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return np.arange(len(obs)) % 2


# -- determinism -------------------------------------------------------------------------------


class Unseeded(RandomAgent):
    """Draws training actions from an unseeded generator."""

    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        return np.array([np.random.default_rng().integers(self.action_space.n)])


class PredictDrawsFromTrainingRng(RandomAgent):
    """`predict` draws from `self.rng`, the training generator, so evaluating changes training."""

    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        return np.array([self.rng.integers(self.action_space.n)])

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return self.rng.integers(0, self.action_space.n, size=len(obs))


class GlobalNumpyEverywhere(RandomAgent):
    """Acts and predicts with numpy's global generator: seeded by the run, and evaluations draw from
    it in an isolated state (as the assignment's agents do), so this agent is deterministic."""

    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        return np.array([np.random.randint(self.action_space.n)])

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return np.random.randint(0, self.action_space.n, size=len(obs))


# (check, broken agent, what the message must say)
CASES: list[tuple[str, type, str]] = [
    ("surface", NoLoad, "missing load (a classmethod)"),
    ("surface", CountsFromOne, "num_timesteps is 1 before training"),
    ("surface", NoEnv, "get_env() is not the one-env VecEnv"),
    ("callback order", NoRolloutEnd, "not IT(RS+E)+X"),
    ("callback order", HidesNewObs, "step 1: the callback's locals lack new_obs"),
    ("callback order", StepBeforeCount, "num_timesteps is 0 at env step 1"),
    ("callback order", UncountedWarmUp, "on_step calls for"),
    ("log keys", NoLogs, "rollout/ep_rew_mean, rollout/ep_len_mean, time/fps never logged"),
    ("EvalCallback", StopsAtEpisodeEnd, "after the callback stopped it at 200"),
    ("EvalCallback", SavesNothing, "no best model was saved"),
    ("CheckpointCallback", SavesNothing, "no checkpoint at step 20"),
    ("CheckpointCallback", ForgetsCounters, "the checkpoint of step 40 loads with num_timesteps 0"),
    ("CallbackList", FirstOfList, "a list of two callbacks was not called at every step"),
    ("function callback", IgnoresStop, "a function returning False at call 10 was called"),
    ("function callback", StopsAtEpisodeEnd, "a function returning False at call 10 was called"),
    ("ProgressBarCallback", UncountedWarmUp, "ProgressBarCallback did not count every step"),
    ("evaluate_policy", InvalidActions, "AssertionError"),
    ("exact budget", StepBeforeCount, f"the guard stopped training at step {BUDGET + 1}, but the agent took"),
    ("exact budget", IgnoresStop, "the guard stopped training"),
    ("batched predict", FirstActionOnly, "a batch of 6 observations gave actions of shape (1,)"),
    ("batched predict", InvalidActions, "are not in Discrete(2)"),
    ("batched predict", BatchDependent, "observations alone and in a batch gave different deterministic actions"),
    ("save/load", ForgetsTable, "deterministic actions differ"),
    ("save/load", SavesNothing, "save('model') wrote 0 files"),
    ("determinism", Unseeded, "the same seed gave other actions"),
    ("determinism", PredictDrawsFromTrainingRng, "evaluating during training changed actions"),
]

GOOD: dict[type, type] = {
    cls: next(base for base in (TabularQAgent, RandomAgent) if issubclass(cls, base)) for _, cls, _ in CASES
}


def test_every_check_has_a_broken_agent():
    assert {check for check, _, _ in CASES} == set(agents.CHECKS)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("check", "cls", "says"), CASES, ids=[f"{check}-{cls.__name__}" for check, cls, _ in CASES])
def test_a_broken_agent_fails_its_check(check, cls, says):
    good = agents.run_check(check, subject(GOOD[cls]))
    assert good.ok, good.line()
    result = agents.run_check(check, subject(cls))
    assert result.name == check
    assert not result.ok, f"{cls.__name__} passed {check!r}: {cls.__doc__}"
    assert says in result.message, result.line()
    assert result.line().startswith(f"FAIL  {check}: ")


FIX_CASES = [pytest.param(check, cls, id=f"{check}-{cls.__name__}") for check, cls, _ in CASES]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("check", "cls"), FIX_CASES)
def test_a_failure_says_how_to_fix_it(check, cls):
    result = agents.run_check(check, subject(cls))
    assert not result.ok
    what, sep, fix = result.message.partition("; fix: ")
    assert sep and what and fix, result.line()


@pytest.mark.filterwarnings("ignore")
def test_run_contract_reports_every_check_in_order():
    seen: list[agents.CheckResult] = []
    results = agents.run_contract(subject(NoLogs), on_result=seen.append)
    assert [r.name for r in results] == list(agents.CHECKS)
    assert seen == results
    assert [r.name for r in results if not r.ok] == ["log keys"]


@pytest.mark.filterwarnings("ignore")
def test_an_agent_on_numpys_global_generator_is_deterministic_though_evaluations_draw_from_it():
    # Each evaluation runs in `isolated_random_state`: what it draws does not change what training
    # draws next. Without that isolation this agent fails with "evaluating during training changed".
    result = agents.run_check("determinism", subject(GlobalNumpyEverywhere))
    assert result.ok, result.line()


def test_a_note_keeps_the_check_holding():
    # The random agent draws even when asked to be deterministic: the check says so and holds.
    result = agents.run_check("batched predict", subject(RandomAgent))
    assert result.ok
    assert "deterministic=True draws random actions" in result.message
    assert result.line().startswith("ok    batched predict (")
