"""Unit tests, on tiny inputs, of how a kind string becomes an agent class: `harness.imports`
(import paths), `harness.sources` (a class's source files), `harness.registry` (kinds) and
`harness.families` (the two agent families)."""

from __future__ import annotations

import inspect
import json
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from stable_baselines3 import PPO

from custom_agents import RandomAgent
from harness import agents, imports
from harness.agents import (
    HandWrittenKind,
    KindError,
    LibraryKind,
    check_kind,
    constructor_parameters,
    family_of,
    import_paths_in,
    resolve_kind,
)
from harness.imports import ImportPathError

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """`sys.path` restored after the test, and the modules imported from `tmp_path` or the
    examples folder forgotten (so that other tests may import files of the same names)."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and any(
            pathlib.Path(file).resolve().is_relative_to(d.resolve()) for d in (tmp_path, REPO / "examples")
        ):
            del sys.modules[name]


def write(path: pathlib.Path, text: str = "") -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# -- imports: the form of an import path -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("pkg.mod:Name", ("pkg.mod", "Name")),
        ("mod:Outer.Inner", ("mod", "Outer.Inner")),
        ("agents.py:Agent", ("agents.py", "Agent")),
        ("sub/dir/agents.py:Agent", ("sub/dir/agents.py", "Agent")),
        ("/abs/agents.py:_Private", ("/abs/agents.py", "_Private")),
    ],
)
def test_split_forms(text, parts):
    assert imports.split(text) == parts


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("pkg.mod", "is not an import path"),
        ("a:b:c", "is not an import path"),
        (3, "is not an import path"),
        ("pkg.mod:", "'' is not a Python name"),
        ("pkg.mod:1x", "is not a Python name"),
        ("pkg.mod:Outer.class", "is not a Python name"),
        ("pkg.mod:a-b", "is not a Python name"),
        ("dir/agents.txt:Agent", "a file path must end in .py"),
        ("my-pkg.mod:Agent", "is neither a module name"),
        (":Agent", "is neither a module name"),
    ],
)
def test_split_errors(text, says):
    with pytest.raises(ImportPathError, match=None) as error:
        imports.split(text)
    message = str(error.value)
    assert says in message
    assert "\n" not in message


def test_is_file_and_file_of(tmp_path):
    assert imports.is_file("agents.py") and imports.is_file("a/b") and not imports.is_file("a.b")
    assert imports.file_of("pkg.mod:Agent", tmp_path) is None
    assert imports.file_of("sub/../agents.py:Agent", tmp_path) == tmp_path / "agents.py"
    assert imports.file_of(f"{tmp_path}/agents.py:Agent", None) == tmp_path / "agents.py"
    with pytest.raises(ImportPathError, match="a relative file path needs a study file"):
        imports.file_of("agents.py:Agent", None)


def test_shipped_roots_remaps_files_and_code_folders(tmp_path):
    original, copy = tmp_path / "original", tmp_path / "copy"
    write(copy / "agents_shipped.py", "VALUE = 'the copy'\n")
    with imports.shipped_roots({original: copy}):
        assert imports.file_of("agents_shipped.py:VALUE", original) == copy / "agents_shipped.py"
        assert imports.local_origin("agents_shipped:VALUE", original) == (copy, copy / "agents_shipped.py")
    assert imports.file_of("agents_shipped.py:VALUE", original) == original / "agents_shipped.py"


# -- imports: files and modules ----------------------------------------------------------------


def test_import_of_a_file_with_a_sibling(isolated):
    write(isolated / "agents_sib" / "helper_sib.py", "ANSWER = 42\n")
    path = write(
        isolated / "agents_sib" / "main_sib.py",
        """
        from helper_sib import ANSWER

        class Agent:
            answer = ANSWER
        """,
    )
    cls = imports.import_object("agents_sib/main_sib.py:Agent", isolated)
    assert cls.answer == 42
    assert cls.__module__ == "main_sib"
    assert sys.modules["main_sib"].__file__ == str(path)
    assert sys.path[0] == str(isolated / "agents_sib")
    assert imports.import_file(path) is sys.modules["main_sib"]  # a second import is the same module


def test_a_file_named_like_an_imported_module_is_refused(isolated):
    assert "json" in sys.modules
    write(isolated / "json.py", "class Agent: pass\n")
    with pytest.raises(ImportPathError) as error:
        imports.import_object("json.py:Agent", isolated)
    message = str(error.value)
    assert "the module name 'json' is taken by" in message and "rename the file" in message
    assert "\n" not in message
    assert sys.modules["json"].__file__ != str(isolated / "json.py")


def test_two_files_of_one_name_in_two_folders(isolated):
    write(isolated / "a" / "twin_agents.py", "WHO = 'a'\n")
    write(isolated / "b" / "twin_agents.py", "WHO = 'b'\n")
    assert imports.import_object("a/twin_agents.py:WHO", isolated) == "a"
    with pytest.raises(ImportPathError, match=r"the module name 'twin_agents' is taken by .*a/twin_agents\.py"):
        imports.import_object("b/twin_agents.py:WHO", isolated)


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("class Agent(:\n    pass\n", "does not import: SyntaxError"),
        ("raise RuntimeError('boom\\nsecond line')\n", "does not import: RuntimeError: boom second line"),
        (
            "import no_such_dependency_xyz\n",
            "does not import: ModuleNotFoundError: No module named 'no_such_dependency_xyz'",
        ),
    ],
    ids=["syntax-error", "raises", "missing-dependency"],
)
def test_a_file_that_does_not_import(isolated, source, says):
    path = write(isolated / "broken_agents_file.py", source)
    with pytest.raises(ImportPathError) as error:
        imports.import_object("broken_agents_file.py:Agent", isolated)
    message = str(error.value)
    assert message.startswith(str(path))
    assert says in message
    assert "\n" not in message
    assert "broken_agents_file" not in sys.modules


def test_a_file_that_exits_at_import(isolated):
    write(isolated / "exiting_agents_q.py", "import sys\n\nclass Agent:\n    pass\n\nsys.exit(0)\n")
    try:
        with pytest.raises(ImportPathError, match="does not import: SystemExit"):
            imports.import_object("exiting_agents_q.py:Agent", isolated)
    except SystemExit:
        pytest.fail("SystemExit escaped import_object")


def test_a_missing_file(isolated):
    with pytest.raises(ImportPathError, match="no such file"):
        imports.import_object("nowhere_agents.py:Agent", isolated)


def test_a_file_name_that_is_no_module_name(isolated):
    write(isolated / "my-agents.py", "class Agent: pass\n")
    with pytest.raises(ImportPathError, match="must be a Python module name"):
        imports.import_object("my-agents.py:Agent", isolated)


def test_module_import_from_a_code_dir(isolated):
    write(isolated / "codepkg_q" / "__init__.py")
    write(isolated / "codepkg_q" / "agents.py", "class Outer:\n    class Inner:\n        pass\n")
    inner = imports.import_object("codepkg_q.agents:Outer.Inner", isolated)
    assert inner.__qualname__ == "Outer.Inner"
    assert sys.path[0] == str(isolated)
    assert imports.local_origin("codepkg_q.agents:Outer", isolated) == (isolated, isolated / "codepkg_q" / "agents.py")
    assert imports.local_origin("codepkg_q:Outer", isolated) == (isolated, isolated / "codepkg_q" / "__init__.py")
    assert imports.local_origin("numpy:ndarray", isolated) is None
    assert imports.local_origin("codepkg_q.agents:Outer", None) is None


def test_missing_module_and_missing_attribute(isolated):
    with pytest.raises(ImportPathError, match=r"no module named 'no_such_module_xyz' \(looked in .* or sys.path\)"):
        imports.import_object("no_such_module_xyz.sub:Agent", isolated)
    with pytest.raises(ImportPathError, match=r"'collections:NoSuch': collections has no 'NoSuch' \(looked in "):
        imports.import_object("collections:NoSuch")
    with pytest.raises(ImportPathError, match=r"has no 'OrderedDict\.nope'"):
        imports.import_object("collections:OrderedDict.nope")


def test_a_module_of_one_name_in_two_code_dirs_is_not_mixed_up(isolated):
    write(isolated / "one" / "samepkg_q" / "__init__.py", "WHO = 'one'\n")
    write(isolated / "two" / "samepkg_q" / "__init__.py", "WHO = 'two'\n")
    assert imports.import_object("samepkg_q:WHO", isolated / "one") == "one"
    try:
        who = imports.import_object("samepkg_q:WHO", isolated / "two")
    except ImportPathError:
        return  # refusing it, as import_file does, would do too
    assert who == "two"


# -- sources -------------------------------------------------------------------------------------


def small_tree(root: pathlib.Path) -> dict[str, pathlib.Path]:
    files = {
        "agent.py": "import numpy as np\nimport json\nimport helper\nfrom pkg import sub\nimport pkg.deep.leaf\n",
        "helper.py": "X = 1\n",
        "unused.py": "Y = 2\n",
        "pkg/__init__.py": "",
        "pkg/sub.py": "from .inner import f\nfrom . import sibling\n",
        "pkg/inner.py": "def f(): pass\n",
        "pkg/sibling.py": "",
        "pkg/never.py": "",
        "pkg/deep/__init__.py": "",
        "pkg/deep/leaf.py": "from ..inner import f\nfrom ...outside import nothing\n",
    }
    return {name: write(root / name, text) for name, text in files.items()}


def test_local_sources_follows_local_imports_only(tmp_path):
    tree = small_tree(tmp_path / "code")
    found = agents.local_sources(tree["agent.py"], [tmp_path / "code"])
    expected = [
        "agent.py",
        "helper.py",
        "pkg/__init__.py",
        "pkg/deep/__init__.py",
        "pkg/deep/leaf.py",
        "pkg/inner.py",
        "pkg/sibling.py",
        "pkg/sub.py",
    ]
    assert found == sorted(tree[name].resolve() for name in expected)


def test_local_sources_of_a_file_in_a_package_brings_its_parent_init(tmp_path):
    tree = small_tree(tmp_path / "code")
    found = agents.local_sources(tree["pkg/sub.py"], [tmp_path / "code"])
    assert found == sorted(
        tree[name].resolve() for name in ("pkg/__init__.py", "pkg/inner.py", "pkg/sibling.py", "pkg/sub.py")
    )


def test_local_sources_of_a_module_in_a_package_that_imports_nothing(tmp_path):
    tree = small_tree(tmp_path / "code")
    quiet = write(tmp_path / "code" / "pkg" / "deep" / "quiet.py", "X = 1\n")
    found = agents.local_sources(quiet, [tmp_path / "code"])
    assert found == sorted(p.resolve() for p in (quiet, tree["pkg/__init__.py"], tree["pkg/deep/__init__.py"]))


def test_local_sources_skips_a_file_that_does_not_parse(tmp_path):
    start = write(tmp_path / "start.py", "import bad\nimport good\n")
    write(tmp_path / "bad.py", "def (:\n")
    write(tmp_path / "good.py", "")
    assert [p.name for p in agents.local_sources(start, [tmp_path])] == ["bad.py", "good.py", "start.py"]


def test_fingerprint_depends_on_content_and_names_not_place(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    tree = small_tree(one)
    shutil.copytree(one, two)
    files_one = agents.local_sources(tree["agent.py"], [one])
    files_two = agents.local_sources(two / "agent.py", [two])
    first = agents.fingerprint(files_one, [one.resolve()])
    assert first == agents.fingerprint(files_two, [two.resolve()])
    assert len(first) == 16
    (two / "pkg" / "inner.py").write_text("def f(): return 1\n")
    assert agents.fingerprint(files_two, [two.resolve()]) != first
    (two / "pkg" / "inner.py").write_text("def f(): pass\n")
    assert agents.fingerprint(files_two, [two.resolve()]) == first


# -- registry ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", [*agents.BUILTINS, "stable_baselines3:PPO", "examples/my_agents.py:ExpectedSarsaAgent"]
)
def test_check_kind_accepts(kind):
    check_kind(kind, REPO)


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("tabular", "unknown kind 'tabular'; allowed: random, tabular_q"),
        (3, "must be a string, got 3"),
        ("pkg.mod:1x", "is not a Python name"),
        ("dir/agents.txt:Agent", "a file path must end in .py"),
        ("missing_agents.py:Agent", "no such file"),
    ],
)
def test_check_kind_refuses(kind, says, tmp_path):
    with pytest.raises(KindError) as error:
        check_kind(kind, tmp_path)
    assert says in str(error.value)


def test_reading_studies_and_checking_kinds_import_no_torch():
    code = textwrap.dedent(
        """
        import pathlib, sys
        import harness.studies
        from harness.agents import check_kind
        harness.studies.load_study("cartpole")
        harness.studies.load_study("examples/study.toml")
        for kind in ("random", "sb3_dqn", "stable_baselines3:PPO", "examples/my_agents.py:ExpectedSarsaAgent"):
            check_kind(kind, pathlib.Path.cwd())
        print(sorted(name for name in ("torch", "stable_baselines3", "my_agents") if name in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("no_such_module_xyz:Agent", "no module named 'no_such_module_xyz'"),
        ("custom_agents.tabular:NoSuchAgent", "custom_agents.tabular has no 'NoSuchAgent'"),
        ("collections:OrderedDict", "collections.OrderedDict is of no agent family"),
        ("custom_agents.base:BaseAgent", "BaseAgent is abstract"),
        ("stable_baselines3.common.base_class:BaseAlgorithm", "BaseAlgorithm is abstract"),
        ("math:pi", "names float 3.14"),
        ("os.path:join", "names function"),
    ],
)
def test_resolve_kind_refuses(kind, says):
    with pytest.raises(KindError) as error:
        resolve_kind(kind)
    message = str(error.value)
    assert says in message
    assert "\n" not in message


def test_resolve_kind_refuses_a_file_that_does_not_import(isolated):
    write(isolated / "raising_agents_q.py", "raise ImportError('needs a GPU')\n")
    with pytest.raises(KindError, match=r"raising_agents_q\.py: does not import: ImportError: needs a GPU"):
        resolve_kind("raising_agents_q.py:Agent", isolated)


def test_resolve_kind_families(isolated):
    assert isinstance(resolve_kind("tabular_q"), HandWrittenKind)
    dqn = resolve_kind("sb3_dqn")
    assert isinstance(dqn, LibraryKind) and dqn.presets is agents.sb3_dqn_preset
    ppo = resolve_kind("stable_baselines3:PPO")
    assert isinstance(ppo, LibraryKind) and ppo.presets is None
    assert ppo.class_path == "stable_baselines3.ppo.ppo:PPO"
    assert ppo.model_suffix == ".zip"
    example = resolve_kind("examples/my_agents.py:ExpectedSarsaAgent", REPO)
    assert example.family == "hand-written" and example.class_path == "my_agents:ExpectedSarsaAgent"
    assert example.source_file == str(REPO / "examples" / "my_agents.py")


def test_a_hand_written_class_needs_a_config_dataclass():
    class NoConfig(RandomAgent):
        config_class = None  # type: ignore[assignment]

    with pytest.raises(KindError, match="must set `config_class` to a frozen dataclass"):
        family_of("mine", NoConfig)


def test_hand_written_resolve_names_a_bad_hyperparameter():
    with pytest.raises(ValueError, match="no_such_option"):
        resolve_kind("tabular_q").resolve({"no_such_option": 1})
    assert resolve_kind("tabular_q").resolve({"gamma": 0.5})["gamma"] == 0.5


# -- library kinds -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ppo() -> LibraryKind:
    kind = resolve_kind("stable_baselines3:PPO")
    assert isinstance(kind, LibraryKind)
    return kind


def test_library_resolve_fills_defaults(ppo):
    values = ppo.resolve({"n_epochs": 3})
    assert values["policy"] == "MlpPolicy"
    assert values["n_steps"] == 2048
    assert values["n_epochs"] == 3
    assert values["device"] == "cpu"
    assert "clip_range_vf" not in values  # None: not a plain default
    assert not {"env", "seed", "verbose", "tensorboard_log", "_init_setup_model"} & set(values)
    assert ppo.resolve({"device": "cuda"})["device"] == "cuda"


@pytest.mark.parametrize(
    ("values", "key", "says"),
    [
        ({"n_stepz": 64}, "n_stepz", "unknown hyperparameter 'n_stepz': PPO takes learning_rate, n_steps"),
        ({"env": "CartPole-v1"}, "env", "hyperparameter 'env' cannot be set: the harness builds the env"),
        ({"seed": 3}, "seed", "hyperparameter 'seed' cannot be set"),
        ({"tensorboard_log": "tb"}, "tensorboard_log", "cannot be set"),
        ({"preset": "zoo"}, "preset", "hyperparameter 'preset': stable_baselines3:PPO has no presets"),
        ({"policy": 3}, "policy", "hyperparameter 'policy' must be a string"),
        (
            {"policy_kwargs": {"activation_fn": "torch.nn:NoSuchActivation"}},
            "policy_kwargs.activation_fn",
            "hyperparameter 'policy_kwargs.activation_fn': 'torch.nn:NoSuchActivation': torch.nn has no",
        ),
        (
            {"policy_kwargs": {"activation_fn": "not an import path"}},
            "policy_kwargs.activation_fn",
            "is not an import path",
        ),
        ({"rollout_buffer_class": "no_such_module_xyz:Buffer"}, "rollout_buffer_class", "no module named"),
    ],
)
def test_library_resolve_refuses(ppo, values, key, says):
    with pytest.raises(KindError) as error:
        ppo.resolve(values)
    assert error.value.key == key
    assert says in str(error.value)


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("tabular_q", {"num_bins": [1, 1, 6, 12]}),
        ("custom_dqn", {"preset": "zoo"}),
        ("sb3_dqn", {"preset": "zoo", "policy_kwargs": {"net_arch": [16], "activation_fn": "torch.nn:Tanh"}}),
        ("stable_baselines3:PPO", {"n_steps": 64}),
        ("stable_baselines3:SAC", {}),
        ("sb3_contrib:QRDQN", {}),
    ],
)
def test_resolved_hyperparameters_are_plain_and_resolve_to_themselves(kind, values):
    agent_kind = resolve_kind(kind)
    resolved = agent_kind.resolve(values, env_id="CartPole-v1")
    assert json.loads(json.dumps(resolved)) == resolved
    assert agent_kind.resolve(resolved, env_id="CartPole-v1") == resolved


def test_library_build_imports_classes_by_path(ppo):
    from harness.conditions import make_training_env

    values = ppo.resolve(
        {"n_steps": 64, "batch_size": 32, "policy_kwargs": {"activation_fn": "torch.nn:Tanh", "net_arch": [8]}}
    )
    assert values["policy_kwargs"] == {"activation_fn": "torch.nn:Tanh", "net_arch": [8]}  # resolved stays plain
    assert import_paths_in(values) == ["torch.nn:Tanh"]
    env = make_training_env("CartPole-v1", 0)
    try:
        model = ppo.build(env, 0, values)
    finally:
        env.close()
    assert model.policy.activation_fn is torch.nn.Tanh
    assert any(isinstance(module, torch.nn.Tanh) for module in model.policy.modules())
    assert model.device.type == "cpu"
    assert model.n_steps == 64


def test_import_paths_in_finds_class_strings_at_any_depth():
    values = {
        "policy": "my_policies.py:Policy",
        "replay_buffer_class": "pkg.buffers:Buffer",
        "policy_kwargs": {"activation_fn": "torch.nn:ReLU", "features_extractor_kwargs": {"norm_class": "a.b:C"}},
        "note_fn": "no colon here",
        "other": "x.y:Z",
    }
    assert sorted(import_paths_in(values)) == sorted(
        ["my_policies.py:Policy", "pkg.buffers:Buffer", "torch.nn:ReLU", "a.b:C"]
    )


def test_sb3_dqn_preset_merge():
    dqn = resolve_kind("sb3_dqn")
    values = dqn.resolve(
        {"preset": "zoo", "learning_rate": 1e-4, "policy_kwargs": {"activation_fn": "torch.nn:Tanh"}},
        env_id="CartPole-v1",
    )
    assert values["preset"] == "zoo"
    assert values["learning_rate"] == 1e-4  # the user's value wins
    assert values["batch_size"] == 64 and values["train_freq"] == 256  # the preset's
    assert values["policy_kwargs"] == {"net_arch": [256, 256], "activation_fn": "torch.nn:Tanh"}  # merged
    zoo_16 = dqn.resolve({"preset": "zoo", "policy_kwargs": {"net_arch": [16]}}, env_id="CartPole-v1")
    assert zoo_16["policy_kwargs"] == {"net_arch": [16]}
    acrobot = dqn.resolve({"preset": "zoo"}, env_id="Acrobot-v1")  # the Zoo's settings for that env
    assert acrobot["batch_size"] == 128 and acrobot["train_freq"] == 4
    with pytest.raises(KindError, match="without knowing the env") as error:
        dqn.resolve({"preset": "zoo"})
    assert error.value.key == "preset"
    plain = dqn.resolve({})
    assert "preset" not in plain and plain["batch_size"] == 32  # SB3's own default
    with pytest.raises(KindError, match="'preset' must be 'zoo' for sb3_dqn") as error:
        dqn.resolve({"preset": "assignment"})
    assert error.value.key == "preset"
    with pytest.raises(KindError, match="'preset' must be a string") as error:
        dqn.resolve({"preset": 1})
    assert error.value.key == "preset"


def test_check_on_env_refuses_dqn_on_a_box_action_space():
    dqn = resolve_kind("sb3_dqn")
    with pytest.raises(KindError) as error:
        dqn.check_on_env("Pendulum-v1", dqn.resolve({"buffer_size": 100}))
    message = str(error.value)
    assert message.startswith("DQN cannot be built on Pendulum-v1: AssertionError:")
    assert "Box" in message and "\n" not in message
    resolve_kind("tabular_q").check_on_env("CartPole-v1", {})


def test_check_on_env_refuses_a_hand_written_agent_on_a_box_action_space():
    with pytest.raises(
        KindError, match=r"RandomAgent cannot be built on Pendulum-v1: UnsupportedSpaceError: .*Discrete action space"
    ):
        resolve_kind("random").check_on_env("Pendulum-v1", {})


class OpenEnded(PPO):
    def __init__(self, *args, extra: int = 1, **kwargs) -> None:
        self.extra = extra
        super().__init__(*args, **kwargs)


class PassesOn(OpenEnded):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)


class Closed(PPO):
    def __init__(self, policy, env, n_steps: int = 32, **kwargs) -> None:
        super().__init__(policy, env, n_steps=n_steps, batch_size=32, **kwargs)


class ClosedForGood(PPO):
    def __init__(self, policy, env, seed=None, learning_rate: float = 1e-3) -> None:
        super().__init__(policy, env, seed=seed, learning_rate=learning_rate)


def test_constructor_parameters_walk_to_the_parents():
    ppo = list(constructor_parameters(PPO))
    assert ppo[:3] == ["policy", "learning_rate", "n_steps"] and "env" not in ppo and "self" not in ppo
    assert list(constructor_parameters(PassesOn)) == ["extra", *ppo]
    closed = constructor_parameters(Closed)
    assert list(closed)[:2] == ["policy", "n_steps"] and closed["n_steps"].default == 32  # the nearest wins
    assert set(closed) == set(ppo)
    assert list(constructor_parameters(ClosedForGood)) == ["policy", "seed", "learning_rate"]
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in constructor_parameters(PassesOn).values())


def test_a_subclass_with_args_and_kwargs_takes_its_parents_hyperparameters():
    kind = family_of("passes_on", PassesOn)
    assert isinstance(kind, LibraryKind)
    values = kind.resolve({"extra": 5, "n_steps": 64})
    assert values["extra"] == 5 and values["n_steps"] == 64 and values["gamma"] == 0.99
    with pytest.raises(KindError, match="unknown hyperparameter 'nope': PassesOn takes extra, learning_rate"):
        kind.resolve({"nope": 1})
    with pytest.raises(KindError, match=r"unknown hyperparameter 'gamma': ClosedForGood takes learning_rate$"):
        family_of("closed", ClosedForGood).resolve({"gamma": 0.9})
