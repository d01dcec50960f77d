"""The identity of classes handed over from Python that no worker can import by name
(`harness.agents.classes`: `kind_of`, `class_fingerprint`): a notebook cell's, a script's
`__main__`'s, one defined inside a function.

Their kind, `"<module>.<qualname> (in memory, <16 hex>)"`, fingerprints what runs: the same source
gives the same kind in any process (whatever its hash seed); an edit of what runs (a method, a
default, a constant or a function it reads, a class attribute, a base class, a closure) gives
another; a comment or a moved definition changes nothing; building, training and a cloudpickle
round trip of the class change nothing. A value it reads that cannot be fingerprinted is named in
one line, and its agent's runs are trained again on every compare. A study of a class in a file
keeps the identity it had before in-memory kinds existed (`tests/data/before-identity/`).

`define` runs a source as a script's `__main__` would (a namespace of its own named `__main__`).
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Any

import cloudpickle
import pytest
from helpers import harness_here, run_json

import harness
from harness.agents import class_fingerprint, is_in_memory, kind_of
from harness.studies import library_versions

IN_MEMORY = r" \(in memory, [0-9a-f]{16}\)"

SOURCE = """
import gymnasium as gym
import numpy as np

ACTIONS = frozenset({"left", "right"})
NAMES = {"left": 0, "right": 1}
SCALE = 0.5
UNUSED = 1


def lean(observation):
    return observation[2] + SCALE * observation[3]


class Chooser:
    def choose(self, value):
        return "right" if value > 0 else "left"


class Base:
    gamma = 0.99

    def __init__(self):
        self.env = gym.make("CartPole-v1")

    def act(self, observation, reward, done):
        return 0

    def train(self):
        pass


class Agent(Base):
    tags = {"tabular", "greedy", "lean"}

    def __init__(self, gain=1.0):
        super().__init__()
        self.gain = gain
        self.chooser = Chooser()

    def act(self, observation, reward, done):
        name = self.chooser.choose(self.gain * lean(observation))
        assert name in {"left", "right"}
        return NAMES[name] if name in ACTIONS else 0

    def train(self):
        observation, _ = self.env.reset()
        for _ in range(200):
            observation, _, terminated, truncated, _ = self.env.step(self.act(observation, 0.0, False))
            if terminated or truncated:
                observation, _ = self.env.reset()
        np.random.random()
"""


def define(source: str, name: str = "Agent", filename: str = "<cell>") -> type:
    """The class `name` of `source`, run in a namespace of its own named `__main__` (as a notebook
    cell or a script defines it)."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)  # not this module's __future__ flags
    return namespace[name]


def digest(cls: type) -> str:
    found = class_fingerprint(cls)
    assert found.unhashable is None, found.unhashable
    return found.digest


def edited(old: str, new: str, source: str = SOURCE) -> str:
    assert source.count(old) == 1, old
    return source.replace(old, new)


# -- the kind ------------------------------------------------------------------------------------


def test_a_class_of_main_is_an_in_memory_kind_named_by_module_and_qualname():
    kind = kind_of(define(SOURCE))
    assert re.fullmatch(r"__main__\.Agent" + IN_MEMORY, kind), kind
    assert is_in_memory(kind)
    assert kind.endswith(f"(in memory, {digest(define(SOURCE))})")


def make_in_a_function(gain: float) -> type:
    class Agent:
        def act(self, observation, reward, done):
            return int(gain * observation[2] > 0)

        def train(self):
            pass

    return Agent


def test_a_class_defined_in_a_function_is_an_in_memory_kind_and_its_closure_is_part_of_it():
    cls = make_in_a_function(1.0)
    assert "<locals>" in cls.__qualname__
    kind = kind_of(cls)
    assert re.fullmatch(re.escape(f"{cls.__module__}.make_in_a_function.<locals>.Agent") + IN_MEMORY, kind), kind
    assert kind_of(make_in_a_function(1.0)) == kind
    assert digest(make_in_a_function(2.0)) != digest(cls)


def test_the_same_source_gives_the_same_fingerprint_wherever_it_was_compiled():
    first = digest(define(SOURCE, filename="/tmp/ipykernel_1/123.py"))
    assert digest(define(SOURCE, filename="<ipython-input-7>")) == first


SCRIPT = SOURCE + "\n\nfrom harness.agents import kind_of\n\nprint(kind_of(Agent))\n"


@pytest.mark.e2e
def test_the_same_source_gives_the_same_kind_in_other_processes_whatever_their_hash_seed(tmp_path: pathlib.Path):
    """The class holds a set, reads a frozenset and compares with a set constant: their order
    changes with PYTHONHASHSEED, the fingerprint must not."""
    (tmp_path / "script.py").write_text(SCRIPT)
    kinds = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [sys.executable, "script.py"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2_000:]
        kinds.add(done.stdout.strip().splitlines()[-1])
    assert kinds == {kind_of(define(SOURCE))}


# -- what changes it and what does not ------------------------------------------------------------

EDITS = {
    "a method's body": ("NAMES[name] if name in ACTIONS else 0", "NAMES[name] if name in ACTIONS else 1"),
    "a default": ("def __init__(self, gain=1.0):", "def __init__(self, gain=2.0):"),
    "a constant it reads": ("SCALE = 0.5", "SCALE = 0.25"),
    "a frozenset it reads": ('ACTIONS = frozenset({"left", "right"})', 'ACTIONS = frozenset({"left", "right", "up"})'),
    "a dict it reads": ('NAMES = {"left": 0, "right": 1}', 'NAMES = {"left": 1, "right": 0}'),
    "a set constant of a method": ('assert name in {"left", "right"}', 'assert name in {"left", "right", "up"}'),
    "a function it reads": ("observation[2] + SCALE * observation[3]", "observation[2] - SCALE * observation[3]"),
    "a class it reads": ('"right" if value > 0 else "left"', '"right" if value >= 0 else "left"'),
    "a class attribute": ('tags = {"tabular", "greedy", "lean"}', 'tags = {"tabular", "greedy"}'),
    "a base class's attribute": ("gamma = 0.99", "gamma = 0.9"),
    "a base class's method": (
        "        return 0\n\n    def train(self):\n        pass",
        "        return 1\n\n    def train(self):\n        pass",
    ),
    "a library call": ("np.random.random()", "np.random.rand()"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_any_edit_of_what_runs_gives_another_fingerprint(edit: str):
    assert digest(define(edited(*EDITS[edit]))) != digest(define(SOURCE))


LEAN = "def lean(observation):\n    return observation[2] + SCALE * observation[3]\n"
NEUTRAL = {
    "a comment": ("        name = self.chooser", "        # which way it leans\n        name = self.chooser"),
    "blank lines above": ("\nimport gymnasium", "\n\n\n\nimport gymnasium"),
    "a function moved below the class": (LEAN, ""),
    "a constant it does not read": ("UNUSED = 1", "UNUSED = 2"),
}


@pytest.mark.parametrize("edit", list(NEUTRAL))
def test_an_edit_that_changes_nothing_that_runs_keeps_the_fingerprint(edit: str):
    source = edited(*NEUTRAL[edit])
    if edit == "a function moved below the class":
        source += "\n\n" + LEAN
    assert digest(define(source)) == digest(define(SOURCE))


def test_two_classes_of_other_names_or_code_never_share_a_fingerprint():
    renamed = SOURCE + "\n\nclass Agent2(Agent):\n    pass\n"
    same_code = SOURCE.replace("class Agent(Base):", "class Other(Base):")
    digests = {
        digest(define(SOURCE)),
        digest(define(same_code, "Other")),
        digest(define(SOURCE, "Base")),
        digest(define(renamed, "Agent2")),
    }
    assert len(digests) == 4


def test_building_using_and_a_cloudpickle_round_trip_change_nothing():
    """cloudpickle, unpickling a class in the process that pickled it, puts copies of its methods
    (`<dynamic-code>`) on the original class: the fingerprint reads the same code."""
    cls = define(SOURCE, filename="/tmp/ipykernel_1/42.py")
    kind = kind_of(cls)
    agent = cls(gain=2.0)
    agent.train()
    agent.act([0.0, 0.0, 0.1, 0.0], 1.0, False)
    assert kind_of(cls) == kind
    again = cloudpickle.loads(cloudpickle.dumps(cls))
    assert again is cls and cls.act.__code__.co_filename == "<dynamic-code>"  # its methods replaced by copies
    assert kind_of(cls) == kind and kind_of(again) == kind
    closure = make_in_a_function(3.0)
    closure_kind = kind_of(closure)
    cloudpickle.loads(cloudpickle.dumps(closure))
    assert kind_of(closure) == closure_kind


def test_a_class_deriving_from_a_users_file_follows_that_files_source(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    """The in-memory class's own code is fingerprinted; its base, in a file, by that file's source."""
    file = tmp_path / "course_base_for_identity.py"
    file.write_text("class CartPoleBase:\n    def act(self, observation, reward, done):\n        return 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "course_base_for_identity", raising=False)
    import course_base_for_identity  # a user's file, written above

    namespace: dict[str, Any] = {"__name__": "__main__", "CartPoleBase": course_base_for_identity.CartPoleBase}
    exec("class Agent(CartPoleBase):\n    def train(self):\n        self.steps = 1\n", namespace)
    cls = namespace["Agent"]
    before = digest(cls)
    assert digest(cls) == before
    file.write_text(file.read_text() + "\n    def train(self):\n        pass\n")
    assert digest(cls) != before
    monkeypatch.delitem(sys.modules, "course_base_for_identity")


# -- what cannot be fingerprinted ----------------------------------------------------------------

READS_AN_ENV = """
import gymnasium as gym

env = gym.make("CartPole-v1")


class {name}:
    def __init__(self):
        self.n = env.action_space.n

    def act(self, observation, reward, done):
        return int(observation[2] > 0) % self.n

    def train(self):
        observation, _ = self.env.reset()
        for _ in range(100):
            observation, _, terminated, truncated, _ = self.env.step(self.act(observation, 0.0, False))
            if terminated or truncated:
                observation, _ = self.env.reset()
"""


def test_a_global_that_cannot_be_fingerprinted_is_named_once_on_stderr(capsys: pytest.CaptureFixture[str]):
    cls = define(READS_AN_ENV.format(name="ReadsAnEnvOnce"), "ReadsAnEnvOnce")
    assert class_fingerprint(cls).unhashable == "`env` (a TimeLimit)"
    capsys.readouterr()
    kind = kind_of(cls)
    assert kind_of(cls) == kind
    assert kind_of(define(READS_AN_ENV.format(name="ReadsAnEnvOnce"), "ReadsAnEnvOnce")) == kind
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "harness: ReadsAnEnvOnce reads `env` (a TimeLimit), which cannot be fingerprinted: its runs are trained "
        "again on every compare (make it a plain constant, or a hyperparameter)"
    ]


def small_study(name: str) -> Any:
    return (
        harness.study("quick")
        .select(labels=["tabular_q"])
        .replace(name=name, seeds=[0], total_timesteps=400, eval_freq=200, n_eval_episodes=2)
    )


def compare(study: Any, runs: pathlib.Path) -> tuple[Any, str]:
    stream = io.StringIO()
    outcome = harness.compare(study, runs_dir=runs, jobs=2, report=False, video=False, stream=stream)
    return outcome, stream.getvalue()


def file_stamp(path: pathlib.Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


@pytest.mark.e2e
def test_an_agent_whose_class_reads_an_unhashable_value_is_trained_again_on_every_compare(tmp_path: pathlib.Path):
    cls = define(READS_AN_ENV.format(name="ReadsAnEnv"), "ReadsAnEnv")
    study = small_study("unhashable").with_agent("mine", cls)
    first, _ = compare(study, tmp_path / "runs")
    assert first.ok and sorted(first.completed) == ["mine/seed_0", "tabular_q/seed_0"]
    run = tmp_path / "runs" / "unhashable" / "mine" / "seed_0"
    record = run_json(run)
    stamps = {name: file_stamp(run / name) for name in ("run.json", "evals.csv")}
    second, printed = compare(study, tmp_path / "runs")
    assert second.completed == ("mine/seed_0",) and second.skipped == ("tabular_q/seed_0",)
    again = "mine: trained again: its class reads `env` (a TimeLimit), which cannot be fingerprinted"
    assert again in printed.splitlines(), printed
    assert all(file_stamp(run / name) != stamp for name, stamp in stamps.items())
    assert run_json(run)["status"] == "complete" and run_json(run)["started_at"] >= record["started_at"]


@pytest.mark.e2e
def test_training_a_class_changes_nothing_of_its_kind_and_a_second_compare_trains_nothing(tmp_path: pathlib.Path):
    cls = define(SOURCE, filename="/tmp/ipykernel_1/7.py")
    kind = kind_of(cls)
    study = small_study("fingerprinted").with_agent("mine", cls, gain=2.0)
    first, _ = compare(study, tmp_path / "runs")
    assert first.ok and sorted(first.completed) == ["mine/seed_0", "tabular_q/seed_0"]
    assert run_json(tmp_path / "runs" / "fingerprinted" / "mine" / "seed_0")["kind"] == kind
    report = harness.check_agent(cls, total_timesteps=400, stream=io.StringIO())
    assert report.kind == kind
    assert kind_of(cls) == kind
    second, printed = compare(small_study("fingerprinted").with_agent("mine", cls, gain=2.0), tmp_path / "runs")
    assert second.completed == () and sorted(second.skipped) == ["mine/seed_0", "tabular_q/seed_0"]
    assert "trained again" not in printed


# -- a class in a file, as before ----------------------------------------------------------------

BEFORE = pathlib.Path(__file__).parent / "data" / "before-identity"


def test_a_study_of_classes_in_a_file_keeps_the_identity_it_had_before(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    folder = tmp_path / "before-identity"
    shutil.copytree(BEFORE, folder)
    monkeypatch.chdir(folder)
    done = harness_here("status", "runs/before-identity", "--study", "study.toml", cwd=folder)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    recorded = [json.loads(path.read_text())["libraries"] for path in sorted(BEFORE.rglob("run.json"))]
    assert len(recorded) == 2
    if all(libraries == library_versions() for libraries in recorded):
        assert last == "2 complete of 2 pairs", done.stdout
    else:
        assert last == "2 stale of 2 pairs", done.stdout


def test_a_base_from_the_standard_library_counts_as_the_librarys_even_when_python_froze_it():
    """Python 3.11 freezes `abc` (its spec names no file): `ABC`, a base of every `BaseAgent`, is
    the standard library's, importable by name, not a user's file whose imports are all read."""
    import abc  # here: the one test of a frozen module

    from harness.agents import code_identity, import_path  # here: as above

    assert import_path(abc.ABC) == "abc:ABC"
    assert code_identity("abc:ABC", None) == {"library": "abc"}


def test_a_module_of_an_editable_install_read_by_name_is_fingerprinted_by_its_source(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    """`installed` has one meaning for an agent's module and for a module a class reads by name: an
    editable install is the user's code, so editing it gives the class another fingerprint."""
    import importlib  # here: the one test that imports a package it made

    package = tmp_path / "editable_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("def value():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("harness.agents.classes", "harness.agents.identity"):  # as `pip install -e` makes it
        monkeypatch.setattr(f"{module}.has_distribution", lambda name: name.split(".")[0] == "editable_pkg")
    try:
        namespace: dict[str, Any] = {"__name__": "__main__", "helpers": importlib.import_module("editable_pkg.helpers")}
        exec("class Reads:\n    def act(self):\n        return helpers.value()\n", namespace)
        first = class_fingerprint(namespace["Reads"]).digest
        (package / "helpers.py").write_text("def value():\n    return 2\n")
        assert class_fingerprint(namespace["Reads"]).digest != first
    finally:
        for name in ("editable_pkg.helpers", "editable_pkg"):
            sys.modules.pop(name, None)
