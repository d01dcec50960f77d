"""ReplayMemory: the ring buffer's counters, wrap-around, the gathered batch's shapes and dtypes, sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from custom_agents.replay import ReplayMemory

OBS_DIM = 3


def transition(i: int) -> tuple[np.ndarray, int, float, np.ndarray, bool]:
    """Transition number `i`, recognisable from every field: s = [i, i + 0.25, i + 0.5],
    s' = s + 100, a = i % 2, r = 10 i, terminated when i is a multiple of 3."""
    obs = np.array([i, i + 0.25, i + 0.5], dtype=np.float32)
    return obs, i % 2, 10.0 * i, obs + 100.0, i % 3 == 0


def filled(capacity: int, n: int) -> ReplayMemory:
    memory = ReplayMemory(capacity, OBS_DIM)
    for i in range(n):
        memory.add_transition(*transition(i))
    return memory


def test_a_new_memory_is_empty():
    memory = ReplayMemory(4, OBS_DIM)
    assert len(memory) == 0
    assert memory.pos == 0
    assert not memory.full
    assert memory.capacity == 4
    # SB3's shapes: (steps, n_envs, ...)
    assert memory.observations.shape == memory.next_observations.shape == (4, 1, OBS_DIM)
    assert memory.rewards.shape == memory.dones.shape == memory.timeouts.shape == (4, 1)
    assert memory.actions.shape == (4, 1, 1)
    assert memory.terminated.shape == (4,)


def test_add_counts_until_full_then_stays_at_capacity():
    memory = ReplayMemory(4, OBS_DIM)
    expected = [(1, 1, False), (2, 2, False), (3, 3, False), (4, 0, True), (4, 1, True), (4, 2, True)]
    for i, (length, pos, full) in enumerate(expected):
        memory.add_transition(*transition(i))
        assert (len(memory), memory.pos, memory.full) == (length, pos, full), i


def test_stored_fields_are_what_was_added():
    memory = filled(5, 4)
    for i in range(4):
        obs, action, reward, next_obs, terminated = transition(i)
        np.testing.assert_array_equal(memory.observations[i, 0], obs)
        np.testing.assert_array_equal(memory.next_observations[i, 0], next_obs)
        assert memory.actions[i, 0] == action
        assert memory.rewards[i, 0] == reward
        assert memory.terminated[i] == float(terminated)


@pytest.mark.parametrize("extra", [1, 2, 5, 7])
def test_wrap_around_overwrites_the_oldest(extra):
    capacity = 5
    memory = filled(capacity, capacity + extra)
    assert len(memory) == capacity
    assert memory.full
    assert memory.pos == extra % capacity
    # Slot k holds the newest transition i with i % capacity == k.
    newest = [max(i for i in range(capacity + extra) if i % capacity == k) for k in range(capacity)]
    for k, i in enumerate(newest):
        obs, action, reward, next_obs, terminated = transition(i)
        np.testing.assert_array_equal(memory.observations[k, 0], obs)
        np.testing.assert_array_equal(memory.next_observations[k, 0], next_obs)
        assert memory.actions[k, 0] == action
        assert memory.rewards[k, 0] == reward
        assert memory.terminated[k] == float(terminated)
    stored = sorted(int(r) // 10 for r in memory.rewards[:, 0])
    assert stored == list(range(extra, capacity + extra))  # the `extra` oldest are gone


def test_wrap_around_exact_contents_after_capacity_plus_two():
    memory = filled(4, 6)
    np.testing.assert_array_equal(memory.rewards[:, 0], [40.0, 50.0, 20.0, 30.0])
    np.testing.assert_array_equal(memory.actions[:, 0, 0], [0, 1, 0, 1])
    np.testing.assert_array_equal(memory.terminated, [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(memory.observations[:, 0, 0], [4.0, 5.0, 2.0, 3.0])
    np.testing.assert_array_equal(memory.next_observations[:, 0, 0], [104.0, 105.0, 102.0, 103.0])
    assert memory.pos == 2


def test_a_capacity_of_one_keeps_the_last_transition():
    memory = filled(1, 3)
    assert len(memory) == 1 and memory.full and memory.pos == 0
    assert memory.rewards[0, 0] == 20.0


def test_gather_returns_the_documented_shapes_and_dtypes():
    memory = filled(8, 6)
    indices = np.array([0, 3, 3, 5, 1])
    obs, actions, rewards, next_obs, not_terminated = memory.gather(indices)
    assert obs.shape == next_obs.shape == (5, OBS_DIM)
    assert actions.shape == rewards.shape == not_terminated.shape == (5,)
    assert obs.dtype == next_obs.dtype == rewards.dtype == not_terminated.dtype == torch.float32
    assert actions.dtype == torch.int64
    assert obs.device.type == "cpu"
    for row, i in enumerate(indices):
        s, a, r, s_next, terminated = transition(int(i))
        assert torch.equal(obs[row], torch.from_numpy(s))
        assert torch.equal(next_obs[row], torch.from_numpy(s_next))
        assert actions[row].item() == a
        assert rewards[row].item() == r
        assert not_terminated[row].item() == (0.0 if terminated else 1.0)
    # transitions 0 and 3 terminated; 5 and 1 did not.
    assert not_terminated.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_gather_returns_copies_not_views_of_the_storage():
    memory = filled(4, 4)
    obs, actions, rewards, _, _ = memory.gather(np.array([0, 1]))
    obs += 1000.0
    rewards += 1000.0
    actions += 7
    assert memory.observations[0, 0, 0] == 0.0
    assert memory.rewards[0, 0] == 0.0
    assert memory.actions[0, 0] == 0


def test_a_truncation_is_stored_as_not_terminated():
    memory = ReplayMemory(2, OBS_DIM)
    obs = np.zeros(OBS_DIM, dtype=np.float32)
    memory.add_transition(obs, 0, 1.0, obs, terminated=False)  # an ordinary step or a time-limit truncation
    memory.add_transition(obs, 1, 1.0, obs, terminated=True)  # the pole fell
    *_, not_terminated = memory.gather(np.array([0, 1]))
    assert not_terminated.tolist() == [1.0, 0.0]
    assert memory.terminated.tolist() == [0.0, 1.0]


def test_sample_indices_stay_below_len_while_filling():
    memory = ReplayMemory(100, OBS_DIM)
    rng = np.random.default_rng(0)
    for i in range(7):
        memory.add_transition(*transition(i))
    indices = memory.sample_indices(500, rng)
    assert indices.shape == (500,)
    assert indices.min() >= 0 and indices.max() < 7
    assert set(indices.tolist()) == set(range(7))  # uniform over what is stored: all of it shows up


def test_sample_indices_cover_the_whole_memory_once_full():
    memory = filled(10, 25)
    indices = memory.sample_indices(1_000, np.random.default_rng(1))
    assert set(indices.tolist()) == set(range(10))


def test_sample_indices_in_batches():
    memory = filled(50, 30)
    indices = memory.sample_indices(8, np.random.default_rng(2), n_batches=6)
    assert indices.shape == (6, 8)
    assert indices.min() >= 0 and indices.max() < 30
    obs, actions, *_ = memory.gather(indices[3])
    assert obs.shape == (8, OBS_DIM) and actions.shape == (8,)


def test_sample_indices_are_deterministic_for_a_seeded_generator():
    memory = filled(50, 40)
    first = memory.sample_indices(16, np.random.default_rng(3), n_batches=4)
    second = memory.sample_indices(16, np.random.default_rng(3), n_batches=4)
    other = memory.sample_indices(16, np.random.default_rng(4), n_batches=4)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_sample_gives_a_batch_from_the_memory():
    memory = filled(20, 12)
    obs, actions, rewards, next_obs, not_terminated = memory.sample(9, np.random.default_rng(5))
    assert obs.shape == next_obs.shape == (9, OBS_DIM)
    assert actions.shape == rewards.shape == not_terminated.shape == (9,)
    # Every sampled row is a whole stored transition.
    for row in range(9):
        i = int(rewards[row].item()) // 10
        assert 0 <= i < 12
        s, a, _, s_next, terminated = transition(i)
        assert torch.equal(obs[row], torch.from_numpy(s))
        assert torch.equal(next_obs[row], torch.from_numpy(s_next))
        assert actions[row].item() == a
        assert not_terminated[row].item() == float(not terminated)


def test_sampling_an_empty_memory_is_refused():
    memory = ReplayMemory(10, OBS_DIM)
    with pytest.raises(ValueError, match="empty"):
        memory.sample_indices(4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="empty"):
        memory.sample(4, np.random.default_rng(0))


@pytest.mark.parametrize("capacity", [0, -1])
def test_a_capacity_below_one_is_refused(capacity):
    with pytest.raises(ValueError, match="capacity"):
        ReplayMemory(capacity, OBS_DIM)
