"""Which envs an agent of the assignment's shape makes itself, and whether it steps one.

The agents of a study learn on the env the harness gives them (`self.env`): the same factory,
seeds and start states for every agent, every step counted against the budget. A student's loop
that makes an env of its own (`gym.make` inside `train()`) and learns on it would be reported as
having used no env steps at all. `EnvWatch` catches it:

    watch = EnvWatch()
    with watch.watching():
        agent = Class(**hyperparameters)   # the course's base class makes an env here: recorded
    ...                                    # the harness replaces agent.env, builds its evaluator
    with watch.watching():
        agent.train()                      # a step of a recorded env raises OwnEnvStepped

While it watches, every gymnasium `Env` created (through `gym.make`, a constructor, a copy) is
recorded (the first watch gives `Env` a `__new__` that shows each new env to the watches
running), and the `step` of the class of each one recorded is wrapped, for the block, so that a
step of a recorded env raises `OwnEnvStepped` (a `BaseException`, so an `except Exception` does
not swallow it) and is remembered (`stepped`); a loop that steps it again (a bare `except:`
swallowed the first) is reported to `on_swallowed`, as a runaway. Envs
made before the block or between the blocks (the harness's training env and its evaluation envs)
are not recorded, so stepping them is not a finding. Outside the blocks nothing is patched.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym

OWN_ENV_RULE = "train() stepped an env it made itself: agents of a study learn on `self.env`"


class OwnEnvStepped(BaseException):
    """An agent stepped an env it made itself (see the module docstring)."""

    def __init__(self, what: str = OWN_ENV_RULE) -> None:
        super().__init__(what)


class EnvWatch:
    """Records the envs made while it watches, and the step of one of them (module docstring)."""

    def __init__(self, on_swallowed: Callable[[str], None] | None = None) -> None:
        self._on_swallowed = on_swallowed
        self._made: weakref.WeakSet[gym.Env] = weakref.WeakSet()
        self._patched: dict[type, Any] = {}
        self.stepped: str | None = None
        """The rule broken, once an env made here was stepped (None until then)."""

    @property
    def made(self) -> int:
        """How many envs were made while it watched (wrappers not counted)."""
        return len(self._made)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Record the envs made in the block and catch a step of one of them; undo every patch after."""
        _install()
        _WATCHING.append(self)
        for env in list(self._made):  # envs made in an earlier block, stepped in this one
            self._patch(type(env))
        try:
            yield
        finally:
            _WATCHING.remove(self)
            for cls, step in self._patched.items():
                if step is None:
                    del cls.step
                else:
                    cls.step = step  # type: ignore[method-assign]
            self._patched.clear()

    def _made_one(self, env: gym.Env) -> None:
        if not isinstance(env, gym.Wrapper):  # a wrapper steps the env it wraps: that one is recorded
            self._made.add(env)
            self._patch(type(env))

    def _patch(self, cls: type) -> None:
        if cls in self._patched:
            return
        self._patched[cls] = cls.__dict__.get("step")
        cls.step = _checked(cls.step, self._check)  # type: ignore[method-assign]

    def _check(self, env: gym.Env) -> None:
        if env in self._made:
            if self.stepped is not None and self._on_swallowed is not None:
                self._on_swallowed(OWN_ENV_RULE)  # stepped again: a bare `except:` swallowed the first stop
            self.stepped = OWN_ENV_RULE
            raise OwnEnvStepped()


_WATCHING: list[EnvWatch] = []
"""The watches whose block is running, in this process."""


def _new(cls: type, *args: Any, **kwargs: Any) -> Any:
    """`Env.__new__`: what `object.__new__` does (neither gymnasium's Env nor typing's Generic has a
    `__new__` of its own), and the env shown to the watches running."""
    env = object.__new__(cls)
    for watch in _WATCHING:
        watch._made_one(env)
    return env


def _install() -> None:
    """Give gymnasium's `Env` the `__new__` above, once per process, for good: CPython cannot take
    an assigned `__new__` back (deleting it leaves the subclasses calling `object.__new__` with
    their constructor's arguments, which it refuses), and outside a watch it only does what
    `object.__new__` does."""
    if gym.Env.__dict__.get("__new__") is not _NEW:
        gym.Env.__new__ = _NEW  # type: ignore[method-assign,assignment]


_NEW = staticmethod(_new)


def _checked(step: Callable[..., Any], check: Callable[[gym.Env], None]) -> Callable[..., Any]:
    @functools.wraps(step)
    def checked_step(self: gym.Env, *args: Any, **kwargs: Any) -> Any:
        check(self)
        return step(self, *args, **kwargs)

    return checked_step
