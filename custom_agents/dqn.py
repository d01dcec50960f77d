"""A hand-written deep Q-network in PyTorch: the assignment's Exercise 3, done batched and right."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from custom_agents.base import BaseAgent
from custom_agents.dqn_config import DQNConfig, dqn_config, resolve_hyperparameters, resolve_policy_kwargs
from custom_agents.dqn_update import FastUpdate, ReferenceUpdate, UpdateValues, load_optimizer_state
from custom_agents.policy import DQNPolicy, observation_inputs
from custom_agents.presets import DQN_PRESETS
from custom_agents.qnetwork import NumpyForward
from custom_agents.replay import ReplayMemory
from custom_agents.sb3_loop import warn_caller
from custom_agents.td import mean_loss, td_loss, td_targets

PRESETS = DQN_PRESETS
"""Preset name -> hyperparameters on CartPole-v1 (`custom_agents.presets`; `dqn_preset` for any env)."""

__all__ = ["PRESETS", "DQNAgent", "DQNConfig", "dqn_config", "linear_schedule", "resolve_hyperparameters"]


class DQNAgent(BaseAgent):
    """Deep Q-learning (Mnih et al. 2015) with a replay memory and a target network.

    Each env step stores (s, a, r, s', terminated) in a `ReplayMemory` of preallocated arrays,
    acting epsilon-greedily on the online network. After every `train_freq` steps (or episodes),
    once more than `learning_starts` steps were taken, `gradient_steps` updates each sample a
    batch uniformly and minimise the TD loss on it, all in one batched pass:

        y = r + gamma (1 - terminated) max_a' Q_target(s', a')
        loss = huber_or_mse(Q(s, a), y);  Adam step after clipping the gradient norm

    The target network is copied from (or Polyak-averaged towards) the online one every
    `target_update_interval` env steps (SB3's meaning) or gradient updates. A time-limit
    truncation keeps its bootstrap (only `terminated` zeroes it); the next state of the last
    transition is the env's terminal observation. Epsilon falls linearly from
    `exploration_initial_eps` to `exploration_final_eps` over `exploration_fraction` of the
    budget, as SB3's, or geometrically per update with `exploration_decay`.

    Hyperparameters (see `DQNConfig`) carry SB3's names; `preset="zoo"` starts from the RL Zoo's
    tuned values for the env (CartPole-v1, Acrobot-v1, MountainCar-v0, LunarLander-v3; another env
    is refused), `preset="assignment"` from the course assignment's choices: gamma
    0.9, Adam 1e-3, MSE loss, 3x256 ReLU, one batch of 64 after each episode, target copied every
    10 updates, epsilon 1.0 -> 0.1 multiplied by 0.1 ** (1/500) at each update, no gradient
    clipping. Where the assignment's own code does something else, this agent departs from it on
    purpose:

    - it computes current-state Q values with the target network; here they come from the
      online network, and only the bootstrap uses the target network;
    - it builds the batch's targets one sample at a time; here the batch is one tensor pass;
    - it treats a time-limit truncation as a termination; here truncation bootstraps;
    - its memory size is not fixed by the assignment; the preset uses 10,000 transitions and
      waits for one batch (64 transitions) before the first update.

    SB3's `DQN` surface besides `BaseAgent`'s: `policy` (`q_net`, `q_net_target`, `optimizer`,
    `set_training_mode`, `predict`, `save`/`load`), `q_net`/`q_net_target` aliases, the
    hyperparameters as live attributes (read at each use: `model.target_update_interval = 1` then
    `model._on_step()` updates the target network), `_on_step`, `replay_buffer` with
    `save_replay_buffer`/`load_replay_buffer`, `get_parameters`/`set_parameters`, several envs
    (a VecEnv of n: n transitions per step, `target_update_interval` counted in steps of all envs,
    as SB3's), a Discrete observation one-hot encoded (stored as its index), `policy_kwargs`
    (`activation_fn`, `features_extractor_class`, `optimizer_class`, ...), `optimize_memory_usage`.
    The fast update runs where it applies (ReLU, the plain features, Adam with its defaults, the
    optimizer not replaced on `policy.optimizer`); otherwise the reference update runs, and the
    agent says so once (a `UserWarning`).

    On CPU the same seed gives the same run bit for bit (one torch thread is advised).
    """

    config_class = DQNConfig
    save_suffix = ".zip"
    multi_env = True
    config: DQNConfig

    @classmethod
    def make_config(cls, hyperparameters: Mapping[str, Any], env_id: str | None = None) -> DQNConfig:
        """The checked config, on top of the preset the hyperparameters name, for the env."""
        return dqn_config(hyperparameters, env_id)

    def _setup_model(self) -> None:
        cfg = self.config
        if cfg.device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            self.device = torch.device(cfg.device)
            if self.device.type == "cuda" and not torch.cuda.is_available():
                raise ValueError(f"hyperparameter 'device' is {cfg.device!r} but CUDA is not available")
        kwargs = resolve_policy_kwargs(cfg.policy_kwargs)
        self.policy = DQNPolicy(
            self.observation_space,
            self.action_space,
            cfg.net_arch,
            self.device,
            activation_fn=kwargs.get("activation_fn", torch.nn.ReLU),
            features_extractor_class=kwargs.get("features_extractor_class"),
            features_extractor_kwargs=kwargs.get("features_extractor_kwargs"),
            optimizer_class=kwargs.get("optimizer_class", torch.optim.Adam),
            optimizer_kwargs=kwargs.get("optimizer_kwargs"),
        )
        self.n_actions = int(self.action_space.n)
        space = self.observation_space
        discrete = isinstance(space, spaces.Discrete)
        self._state_start = int(space.start) if discrete else 0
        self._one_hot = np.eye(int(space.n), dtype=np.float32) if discrete else None
        self.replay_buffer = ReplayMemory(
            cfg.buffer_size,
            observation_inputs(space),
            device=self.device,
            n_envs=self.n_envs,
            n_states=int(space.n) if discrete else None,
            state_start=self._state_start,
            optimize_memory_usage=cfg.optimize_memory_usage,
            handle_timeout_termination=(cfg.replay_buffer_kwargs or {}).get("handle_timeout_termination", True),
        )
        self.update: FastUpdate | ReferenceUpdate = self._make_update(cfg.implementation)
        # On CPU, observations are scored in numpy on views of the online weights (no torch
        # dispatch): one per training step, a batch per evaluation step.
        plain_cpu = self.device.type == "cpu" and self.policy.plain
        self._policy = NumpyForward(self.q_net) if plain_cpu else None
        self.exploration_rate = cfg.exploration_initial_eps
        self._n_calls = 0
        self._n_updates = 0
        self._actions = np.zeros(self.n_envs, dtype=np.int64)
        if self.n_envs > cfg.target_update_interval and cfg.target_update_unit == "step":
            warn_caller(
                "The number of environments used is greater than the target network update interval "
                f"({self.n_envs} > {cfg.target_update_interval}), therefore the target network will be "
                f"updated after each call to env.step() which corresponds to {self.n_envs} steps."
            )

    def _make_update(self, implementation: str) -> FastUpdate | ReferenceUpdate:
        """The fast update where it applies (see the class docstring), else the reference one;
        says once why the fast one cannot run when it was asked for."""
        policy = self.policy
        if implementation == "fast" and policy.plain and policy.default_optimizer:
            return FastUpdate(policy, self.replay_buffer, self.learning_rate, self.batch_size)
        if implementation == "fast":
            why = "an activation other than ReLU" if policy.q_net.activation_fn is not torch.nn.ReLU else None
            why = why or ("a features extractor" if not policy.plain else "an optimizer other than Adam's defaults")
            self._say_reference(why)
        return ReferenceUpdate(policy, self.replay_buffer, self.learning_rate)

    def _say_reference(self, why: str) -> None:
        warn_caller(
            f"{type(self).__name__}: the fast update cannot run {why}; the reference update (plain "
            "PyTorch autograd, custom_agents.dqn_update.ReferenceUpdate) runs instead"
        )

    @property
    def q_net(self) -> Any:
        """The online Q-network (`policy.q_net`, as SB3's alias)."""
        return self.policy.q_net

    @property
    def q_net_target(self) -> Any:
        """The target Q-network (`policy.q_net_target`)."""
        return self.policy.q_net_target

    @property
    def memory(self) -> ReplayMemory:
        """The replay memory (`replay_buffer`)."""
        return self.replay_buffer

    def _parameter_objects(self) -> dict[str, Any]:
        return {"policy": self.policy, "policy.optimizer": self.policy.optimizer}

    # -- acting -------------------------------------------------------------------------------

    def _encode(self, obs: np.ndarray) -> np.ndarray:
        """Observations as the network takes them: a Discrete state one-hot encoded."""
        if self._one_hot is None:
            return obs
        return self._one_hot[np.asarray(obs).reshape(-1).astype(np.int64) - self._state_start]

    @torch.no_grad()
    def q_values(self, obs: np.ndarray) -> torch.Tensor:
        """Online Q values, shape (n, n_actions), of observations, shape (n, obs_dim)."""
        inputs = torch.as_tensor(self._encode(obs), dtype=torch.float32, device=self.device)
        if self.policy.plain:
            return self.q_net.forward_cached(inputs, keep=False)[0]
        return self.q_net(inputs)

    def _greedy(self, obs: np.ndarray) -> np.ndarray:
        if self._policy is not None:
            return self._policy.greedy(self._encode(obs))
        return self.q_values(obs).argmax(dim=1).cpu().numpy()

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        greedy = self._greedy(obs)
        if deterministic:
            return greedy
        explore = self.predict_rng.random(len(greedy)) < self.exploration_rate
        return np.where(explore, self.predict_rng.integers(0, self.n_actions, len(greedy)), greedy)

    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        if self.n_envs == 1:
            if self.num_timesteps < self.learning_starts or self.rng.random() < self.exploration_rate:
                self._actions[0] = self.rng.integers(self.n_actions)
            elif self._policy is not None:
                self._actions[0] = self._policy.greedy(self._encode(obs))[0]
            else:
                self._actions[0] = int(self.q_values(obs).argmax(dim=1)[0])
            return self._actions
        greedy = None
        for i in range(self.n_envs):
            if self.num_timesteps < self.learning_starts or self.rng.random() < self.exploration_rate:
                self._actions[i] = self.rng.integers(self.n_actions)
            else:
                greedy = self._greedy(obs) if greedy is None else greedy
                self._actions[i] = greedy[i]
        return self._actions

    # -- learning -------------------------------------------------------------------------------

    def _on_transition(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        new_obs: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        memory = self.replay_buffer
        if self.n_envs == 1:
            truncated = False
            if dones[0]:
                info = infos[0]
                next_obs = info["terminal_observation"]
                truncated = info.get("TimeLimit.truncated", False)
            else:
                next_obs = new_obs[0]
            memory.add_transition(
                obs[0], int(actions[0]), float(rewards[0]), next_obs, dones[0] and not truncated, truncated
            )
        else:
            next_obs = np.array(new_obs, copy=True)
            for i in np.flatnonzero(dones):
                next_obs[i] = infos[i]["terminal_observation"]
            memory.add(obs, next_obs, actions, rewards, dones, infos)
        self._on_step()

    def _on_step(self) -> None:
        """After each env step (SB3's hook): the target network every `target_update_interval`
        env steps (of all envs: every `interval // n_envs` calls), and the exploration rate."""
        self._n_calls += 1
        if self.target_update_unit == "step":
            interval = self.target_update_interval
            if self.n_envs > 1:
                interval = max(interval // self.n_envs, 1)
            if self._n_calls % interval == 0:
                self._update_target()
        if self.exploration_decay is None:
            progress = self.num_timesteps / self._total_timesteps if self._total_timesteps else 0.0
            self.exploration_rate = linear_schedule(
                progress, self.exploration_initial_eps, self.exploration_final_eps, self.exploration_fraction
            )

    def _rollout_complete(self, n_steps: int, n_episodes: int) -> bool:
        count, unit = self.train_freq if isinstance(self.train_freq, tuple) else (self.train_freq, "step")
        unit = getattr(unit, "value", unit)  # SB3's TrainFreq holds an Enum
        return (n_steps if unit == "step" else n_episodes) >= count

    def _current_update(self) -> FastUpdate | ReferenceUpdate:
        """The update, the reference one from now on where `policy.optimizer` was replaced."""
        if self.policy.optimizer is not self.update.optimizer:
            self._say_reference("an optimizer set on policy.optimizer")
            self.update = ReferenceUpdate(self.policy, self.replay_buffer, self.learning_rate)
        return self.update

    def _train(self, n_steps: int) -> None:
        if not (self.num_timesteps > 0 and self.num_timesteps > self.learning_starts):
            return
        gradient_steps = self.gradient_steps if self.gradient_steps >= 0 else n_steps * self.n_envs
        if gradient_steps == 0:
            return
        update = self._current_update()
        update.memory = self.replay_buffer
        values = self.update_values()
        batches = self.replay_buffer.sample_indices(self.batch_size, self.rng, n_batches=gradient_steps)
        errors = []
        done = 0
        self.policy.set_training_mode(True)
        while done < gradient_steps:
            # Updates run in chunks that end where the target network is updated (counted in
            # updates): within a chunk, the target network stays as it is.
            chunk = gradient_steps - done
            if self.target_update_unit == "update":
                chunk = min(chunk, self.target_update_interval - self._n_updates % self.target_update_interval)
            errors.append(update.train(batches[done : done + chunk], values))
            done += chunk
            self._n_updates += chunk
            if self.target_update_unit == "update" and self._n_updates % self.target_update_interval == 0:
                self._update_target()
        self.policy.set_training_mode(False)
        if self.exploration_decay is not None:  # epsilon after each update; only the last one is used
            self.exploration_rate = max(
                self.exploration_final_eps, self.exploration_initial_eps * self.exploration_decay**self._n_updates
            )
        # As SB3: the mean loss of this call's updates, kept until the next log dump.
        self.logger.record("train/learning_rate", self.learning_rate)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", mean_loss(torch.cat(errors), self.loss).item())

    def update_values(self) -> UpdateValues:
        """The hyperparameters the next updates read, as the live attributes hold them now."""
        return UpdateValues(self.gamma, self.learning_rate, self.max_grad_norm, self.loss)

    @torch.no_grad()
    def td_targets(self, rewards: torch.Tensor, next_obs: torch.Tensor, not_terminated: torch.Tensor) -> torch.Tensor:
        """y = r + gamma (1 - terminated) max_a' Q_target(s', a') (`custom_agents.td`) of
        preprocessed next observations; all shapes (batch,) but `next_obs`."""
        return td_targets(rewards, not_terminated, self.q_net_target(next_obs).amax(dim=1), self.gamma)

    def td_loss(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_obs: torch.Tensor,
        not_terminated: torch.Tensor,
    ) -> torch.Tensor:
        """The TD loss of one batch (as the replay memory gathers it), differentiable by autograd:
        the definition the fast update computes by hand."""
        targets = self.td_targets(rewards, next_obs, not_terminated)
        q = self.q_net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        return td_loss(q, targets, self.loss)

    def _update_target(self) -> None:
        """Copy (tau = 1) or Polyak-average (tau < 1) the online weights into the target network;
        batch norm statistics are copied (`DQNPolicy.update_target`)."""
        self.policy.update_target(self.tau)

    @property
    def n_updates(self) -> int:
        """Gradient updates done so far."""
        return self._n_updates

    def _record_logs(self) -> None:
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    def _setup_learn(
        self, total_timesteps: int, callback: Any = None, reset_num_timesteps: bool = True, *args: Any, **kwargs: Any
    ) -> Any:
        """As `BaseAgent`'s; with `optimize_memory_usage`, a `learn` that resets the counters on a
        non-empty memory cuts its last trajectory, and says so (SB3's warning)."""
        memory = self.replay_buffer
        if self.optimize_memory_usage and reset_num_timesteps and memory is not None and len(memory):
            warn_caller(
                "The last trajectory in the replay buffer will be truncated, see "
                "https://github.com/DLR-RM/stable-baselines3/issues/46. You should use "
                "`reset_num_timesteps=False` or `optimize_memory_usage=False` to avoid that issue."
            )
            memory.truncate_last_trajectory()
        return super()._setup_learn(total_timesteps, callback, reset_num_timesteps, *args, **kwargs)

    # -- save / load ------------------------------------------------------------------------------

    def save_replay_buffer(self, path: str | pathlib.Path | Any) -> None:
        """Write the replay memory (`ReplayMemory.save`: an npz archive, no pickle); a path
        without a suffix gets `.npz`."""
        if isinstance(path, (str, pathlib.Path)):
            path = pathlib.Path(path)
            path = path if path.suffix else path.with_suffix(".npz")
            path.parent.mkdir(parents=True, exist_ok=True)
        self.replay_buffer.save(path)

    def load_replay_buffer(self, path: str | pathlib.Path | Any, truncate_last_traj: bool = True) -> None:
        """Read a memory written by `save_replay_buffer`, its batches going to `self.device`
        (with `optimize_memory_usage` and `truncate_last_traj`, its last trajectory is cut)."""
        if isinstance(path, (str, pathlib.Path)):
            path = pathlib.Path(path)
            path = path if path.exists() or path.suffix else path.with_suffix(".npz")
        memory = ReplayMemory.load(path, device=self.device)
        if memory.optimize_memory_usage and truncate_last_traj:
            memory.truncate_last_trajectory()
        self.replay_buffer = memory
        self.update.memory = memory

    def _state(self) -> dict[str, Any]:
        assert self.policy.optimizer is not None
        return {
            "q_net": self.q_net.state_dict(),
            "q_net_target": self.q_net_target.state_dict(),
            "optimizer": self.policy.optimizer.state_dict(),
            "n_updates": self._n_updates,
            "n_calls": self._n_calls,
            "exploration_rate": self.exploration_rate,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self.q_net.load_state_dict(state["q_net"])
        self.q_net_target.load_state_dict(state["q_net_target"])
        load_optimizer_state(self._current_update(), state["optimizer"])
        self._n_updates = int(state["n_updates"])
        self._n_calls = int(state["n_calls"])
        self.exploration_rate = float(state["exploration_rate"])

    @classmethod
    def _write_file(cls, path: Any, meta: dict[str, Any], state: dict[str, Any]) -> None:
        """`torch.save` of plain data, tensors and state dicts: loadable with `weights_only=True`."""
        tensors = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in state.items()}
        torch.save({"meta": meta, "state": tensors}, path)

    @classmethod
    def _read_file(cls, path: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return data["meta"], data["state"]


def linear_schedule(progress: float, start: float, end: float, end_fraction: float) -> float:
    """SB3's linear schedule: `start` at progress 0, `end` from `end_fraction` of training on."""
    if progress > end_fraction:
        return end
    return start + progress * (end - start) / end_fraction
