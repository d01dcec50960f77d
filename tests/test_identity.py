"""A pair's identity (`harness.studies.pair_identity`): what decides a run's result, computed
without torch.

The code part (`harness.agents.code_identity`): a fingerprint of the source closure of a
hand-written or user class (its module and the local files it imports,
`harness.agents.local_sources`), a library's name and version for an installed class. `changed`
says what differs, in words; a run.json written before code was recorded is stale."""

from __future__ import annotations

import importlib.metadata
import json
import pathlib
import subprocess
import sys
import textwrap

import pytest
from helpers import study_text

import custom_agents
from harness import agents, studies
from harness.agents import code_identity, local_sources
from harness.store import RunRecord, slot_state
from harness.studies import (
    LEGACY_SETTINGS,
    changed,
    identity_hash,
    library_versions,
    pair_identity,
    parse_study,
    run_settings,
)

PACKAGE = pathlib.Path(custom_agents.__file__).resolve().parent
STUDY = study_text(
    "ident",
    total_timesteps=1000,
    n_eval_episodes=2,
    agents={
        "random": 'kind = "random"',
        "tabular_q": 'kind = "tabular_q"\ngamma = 0.99',
        "custom_dqn": 'kind = "custom_dqn"',
        "sb3_dqn": 'kind = "sb3_dqn"',
    },
)

USER_AGENT = """\
from custom_agents import BaseAgent

import helper


class MyAgent(BaseAgent):
    config_class = helper.Config
"""
HELPER = """\
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    gamma: float = 0.9
"""


def user_folder(root: pathlib.Path) -> pathlib.Path:
    """A user's agent file that imports a local helper, and an unrelated file next to them."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "my_agent.py").write_text(USER_AGENT)
    (root / "helper.py").write_text(HELPER)
    (root / "unrelated.py").write_text("X = 1\n")
    return root


# -- code_identity ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["random", "tabular_q", "tabular_sarsa", "custom_dqn"])
def test_a_hand_written_builtin_is_identified_by_its_source(kind: str):
    code = code_identity(kind, None)
    assert set(code) == {"source", "files"}, code
    assert len(code["source"]) == 16 and int(code["source"], 16) >= 0
    assert code["files"] >= 2  # its module and the package's __init__.py at least
    assert code_identity(kind, None) == code  # stable


def test_a_library_class_is_identified_by_the_library_and_its_version():
    code = code_identity("sb3_dqn", None)
    name, version = code["library"].split()
    assert set(code) == {"library"}
    assert name.replace("-", "_") == "stable_baselines3"
    assert version == importlib.metadata.version("stable-baselines3")
    assert code_identity("stable_baselines3:PPO", None) == code


def test_builtins_of_one_module_share_a_fingerprint_and_others_differ():
    codes = {
        kind: code_identity(kind, None)["source"] for kind in ("random", "tabular_q", "tabular_sarsa", "custom_dqn")
    }
    assert codes["tabular_q"] == codes["tabular_sarsa"]  # one file: custom_agents/tabular.py
    assert len({codes["random"], codes["tabular_q"], codes["custom_dqn"]}) == 3


def test_a_builtins_closure_holds_the_files_it_imports_and_not_the_others(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("harness.agents.identity.NEUTRAL_REWRITES", ())  # the closure as it is, not as declared
    roots = [agents.PROJECT_ROOT]
    dqn = {p.name for p in local_sources(PACKAGE / "dqn.py", roots)}
    assert {"dqn.py", "qnetwork.py", "replay.py", "base.py", "__init__.py"} <= dqn
    random = {p.name for p in local_sources(PACKAGE / "random_agent.py", roots)}
    assert "base.py" in random
    assert not random & {"dqn.py", "qnetwork.py", "replay.py", "tabular.py"}  # editing those keeps random's runs
    assert code_identity("random", None)["files"] == len(random)


def test_a_user_files_fingerprint_follows_its_lazy_package_imports(tmp_path: pathlib.Path):
    """`from custom_agents import BaseAgent` names a lazily exported class: its module
    (custom_agents/base.py, from `_EXPORTS`) is part of the closure."""
    folder = user_folder(tmp_path / "code")
    files = local_sources(folder / "my_agent.py", [folder, agents.PROJECT_ROOT])
    assert folder / "helper.py" in files
    assert PACKAGE / "base.py" in files and PACKAGE / "__init__.py" in files
    assert folder / "unrelated.py" not in files
    assert code_identity("my_agent.py:MyAgent", folder)["files"] == len(files)


def test_a_user_files_fingerprint_changes_with_it_and_its_local_imports_only(tmp_path: pathlib.Path):
    folder = user_folder(tmp_path / "code")
    kind = "my_agent.py:MyAgent"
    first = code_identity(kind, folder)
    assert set(first) == {"source", "files"}

    (folder / "unrelated.py").write_text("X = 2\n")  # not imported
    (folder / "notes.txt").write_text("a note")
    assert code_identity(kind, folder) == first

    (folder / "helper.py").write_text(HELPER.replace("0.9", "0.8"))  # imported
    second = code_identity(kind, folder)
    assert second["source"] != first["source"] and second["files"] == first["files"]

    (folder / "helper.py").write_text(HELPER)  # back: the same fingerprint again
    assert code_identity(kind, folder) == first

    (folder / "my_agent.py").write_text(USER_AGENT + "\n# a comment\n")
    assert code_identity(kind, folder)["source"] != first["source"]


def test_the_same_code_elsewhere_has_the_same_fingerprint(tmp_path: pathlib.Path):
    one = code_identity("my_agent.py:MyAgent", user_folder(tmp_path / "one"))
    two = code_identity("my_agent.py:MyAgent", user_folder(tmp_path / "two" / "deeper"))
    assert one == two


def test_a_module_in_the_code_folder_is_the_users_code(tmp_path: pathlib.Path):
    folder = user_folder(tmp_path / "code")
    package = folder / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "agents.py").write_text("from . import parts\n")
    (package / "parts.py").write_text("Y = 1\n")
    kind = "mypkg.agents:Agent"
    first = code_identity(kind, folder)
    assert first["files"] == 3
    (package / "parts.py").write_text("Y = 2\n")
    assert code_identity(kind, folder)["source"] != first["source"]


def test_a_kind_whose_module_is_nowhere_is_unknown():
    code = code_identity("no_such_module_anywhere:Agent", None)
    assert set(code) == {"unknown"} and "no_such_module_anywhere" in code["unknown"]


# -- pair_identity, changed ----------------------------------------------------------------------


def study_view():
    return parse_study(STUDY, "ident.toml").split()[0]


def identity_of(label: str = "tabular_q", seed: int = 0, view=None):
    view = view if view is not None else study_view()
    return pair_identity(view, label, seed, code_identity(view.agent(label).kind, view.code_dir))


def test_a_pair_identity_is_its_settings_seed_code_and_libraries():
    view = study_view()
    ident = identity_of(view=view)
    assert list(ident) == [*run_settings(view, "tabular_q"), "seed", "code", "libraries"]
    assert ident["seed"] == 0 and ident["hyperparameters"]["gamma"] == 0.99
    assert ident["libraries"] == library_versions()
    assert set(ident["libraries"]) == set(studies.LIBRARIES)
    assert ident["libraries"]["numpy"] == importlib.metadata.version("numpy")
    record = RunRecord.from_dict({**json.loads(json.dumps(ident)), "status": "complete", "started_at": "now"})
    assert record.identity() == ident


def test_changed_says_what_differs_in_words():
    ident = identity_of()
    assert changed(ident, ident) is None
    record = json.loads(json.dumps(ident))  # as run.json holds it

    def with_(**changes):
        return {**record, **changes}

    assert changed(with_(total_timesteps=500), ident) == "total_timesteps: 500 -> 1000"
    assert changed(with_(seed=3), ident) == "seed: 3 -> 0"
    hyper = {**record["hyperparameters"], "gamma": 0.95}
    assert changed(with_(hyperparameters=hyper), ident) == "hyperparameters: gamma 0.95 -> 0.99"
    evaluation = {**record["evaluation"], "eval_freq": 250}
    assert changed(with_(evaluation=evaluation), ident) == "evaluation: eval_freq 250 -> 500"
    assert changed(with_(kind="tabular_sarsa"), ident) == "kind: tabular_sarsa -> tabular_q"
    code = {"source": "0" * 16, "files": record["code"]["files"]}
    assert changed(with_(code=code), ident) == "code: its source changed"
    libraries = {**record["libraries"], "torch": "1.0"}
    assert changed(with_(libraries=libraries), ident) == f"libraries: torch 1.0 -> {ident['libraries']['torch']}"
    # the first difference, in the identity's order
    assert changed(with_(total_timesteps=500, seed=3), ident).startswith("total_timesteps")


def test_changed_of_many_keys_names_three_and_counts_the_rest():
    now = {**identity_of(), "hyperparameters": {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}}
    then = {**now, "hyperparameters": {"a": 0, "b": 0, "c": 0, "d": 0, "e": 5, "f": 6}}
    assert changed(then, now) == "hyperparameters: a 0 -> 1, b 0 -> 2, c 0 -> 3 (+2 more)"
    long = {**now, "hyperparameters": {**now["hyperparameters"], "a": "x" * 100}}
    message = changed(long, now)
    assert message is not None and len(message) < 100 and "..." in message  # long values are cut


def test_a_library_class_whose_library_changed_says_so():
    view = study_view()
    ident = identity_of("sb3_dqn", view=view)
    record = {**ident, "code": {"library": "stable_baselines3 0.0.1"}}
    assert changed(record, ident) == f"code: library stable_baselines3 0.0.1 -> {ident['code']['library']}"


def test_a_record_without_code_is_from_an_earlier_harness():
    ident = identity_of()
    legacy = {key: value for key, value in ident.items() if key not in ("code", "libraries")}
    assert changed(legacy, ident) == "code: not recorded (a run from an earlier version of the harness)"
    # a run.json from before env profiles ran under the legacy profile: not a difference
    assert ident["profile"] == LEGACY_SETTINGS["profile"]
    without_profile = {key: value for key, value in ident.items() if key != "profile"}
    assert changed(RunRecord.from_dict({"status": "complete", **without_profile}).identity(), ident) is None


def test_a_legacy_run_json_without_code_is_stale(tmp_path: pathlib.Path):
    ident = identity_of()
    slot = tmp_path / "tabular_q" / "seed_0"
    slot.mkdir(parents=True)
    legacy = {key: value for key, value in ident.items() if key not in ("code", "libraries")}
    (slot / "run.json").write_text(json.dumps({"status": "complete", **legacy}))
    state = slot_state(slot, ident)
    assert state.status == "stale"
    assert state.why.startswith("code: not recorded")
    (slot / "run.json").write_text(json.dumps({"status": "complete", **ident}))
    assert slot_state(slot, ident).status == "complete"


def test_identity_hash_is_short_stable_and_ignores_key_order():
    ident = identity_of()
    reordered = dict(reversed(list(ident.items())))
    assert identity_hash(ident) == identity_hash(reordered)
    assert len(identity_hash(ident)) == 16
    assert identity_hash(ident) != identity_hash({**ident, "seed": 1})
    assert identity_hash(identity_of(seed=1)) == identity_hash({**ident, "seed": 1})


def test_pair_identity_imports_no_torch(tmp_path: pathlib.Path):
    user_folder(tmp_path)
    (tmp_path / "ident.toml").write_text(
        STUDY + '\n[agents.mine]\nkind = "my_agent.py:MyAgent"\n\n[agents.ppo]\nkind = "stable_baselines3:PPO"\n'
    )
    script = textwrap.dedent(
        """
        import sys
        from harness.agents import code_identity
        from harness.studies import pair_identity
        from harness.studies import load_study

        study = load_study("ident.toml")
        for view in study.split():
            for spec in view.agents:
                pair_identity(view, spec.label, 0, code_identity(spec.kind, view.code_dir))
        print(sorted(name for name in ("torch", "stable_baselines3") if name in sys.modules))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
