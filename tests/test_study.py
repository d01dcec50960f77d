"""Study files: every bad input refused before anything runs, with one line naming the file and the key.

`parse_study` / `load_study` check the file's structure, `[study]` and the kinds' form without
importing an agent class; `resolve_study` checks each agent's hyperparameters against its class."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest

from harness.conditions import EVAL_SEED_BASE
from harness.studies import Study, StudyError, load_study, parse_study, resolve_study, to_toml

SOURCE = "/studies/my_study.toml"

STUDY = """\
[study]
name = "t"
seeds = [0, 1]
total_timesteps = 100
eval_freq = 50
n_eval_episodes = 2
"""
RANDOM = """
[agents.a]
kind = "random"
"""


def with_study(old: str, new: str) -> str:
    """The `[study]` table with one line replaced, followed by a random agent."""
    assert old in STUDY
    return STUDY.replace(old, new) + RANDOM


def with_agent(kind: str, *lines: str) -> str:
    """The `[study]` table and one agent `a` of `kind` with extra lines."""
    return STUDY + "\n[agents.a]\n" + f'kind = "{kind}"\n' + "".join(line + "\n" for line in lines)


# (id, TOML text, fragments the one-line message must hold besides the file name)
BAD_STUDIES = [
    (
        "unknown key in [study]",
        with_study("n_eval_episodes = 2", "n_eval_episodes = 2\ncolour = 1"),
        ["study.colour", "unknown key", "allowed:", "total_timesteps"],
    ),
    ("unknown kind", with_agent("ppo"), ["agents.a.kind", "'ppo'", "allowed:", "tabular_q", "sb3_dqn"]),
    ("missing kind", STUDY + "\n[agents.a]\nnum_bins = [1, 1, 1, 1]\n", ["agents.a.kind", "missing", "random"]),
    ("agent not a table", STUDY + "\n[agents]\na = 3\n", ["agents.a", "table"]),
    (
        "unknown env id",
        with_study('name = "t"', 'name = "t"\nenv_id = "NoSuchEnv-v9"'),
        ["study.env_id", "NoSuchEnv-v9", "CartPole-v1"],
    ),
    (
        "string for an integer",
        with_study("total_timesteps = 100", 'total_timesteps = "100"'),
        ["study.total_timesteps", "integer", "'100'"],
    ),
    (
        "float for an integer",
        with_study("total_timesteps = 100", "total_timesteps = 100.0"),
        ["study.total_timesteps", "integer"],
    ),
    ("bool for an integer", with_study("eval_freq = 50", "eval_freq = true"), ["study.eval_freq", "integer"]),
    ("scalar for the seeds", with_study("seeds = [0, 1]", "seeds = 0"), ["study.seeds"]),
    ("string seeds", with_study("seeds = [0, 1]", 'seeds = ["0"]'), ["study.seeds"]),
    ("number for the name", with_study('name = "t"', "name = 3"), ["study.name", "string"]),
    ("empty seeds", with_study("seeds = [0, 1]", "seeds = []"), ["study.seeds", "empty"]),
    ("negative seed", with_study("seeds = [0, 1]", "seeds = [-1]"), ["study.seeds", ">= 0"]),
    ("repeated seed", with_study("seeds = [0, 1]", "seeds = [1, 1]"), ["study.seeds", "distinct"]),
    ("zero budget", with_study("total_timesteps = 100", "total_timesteps = 0"), ["study.total_timesteps", "> 0"]),
    (
        "negative budget",
        with_study("total_timesteps = 100", "total_timesteps = -5"),
        ["study.total_timesteps", "> 0", "-5"],
    ),
    ("zero eval_freq", with_study("eval_freq = 50", "eval_freq = 0"), ["study.eval_freq", "> 0"]),
    (
        "zero n_eval_episodes",
        with_study("n_eval_episodes = 2", "n_eval_episodes = 0"),
        ["study.n_eval_episodes", "> 0"],
    ),
    ("missing budget", with_study("total_timesteps = 100\n", ""), ["study.total_timesteps", "missing"]),
    ("name not a folder name", with_study('name = "t"', 'name = "../t"'), ["study.name", "'../t'"]),
    (
        "labels differing only in case",
        STUDY + '\n[agents.dqn]\nkind = "random"\n\n[agents.DQN]\nkind = "random"\n',
        ["agents.dqn", "used twice"],
    ),
    ("label not a folder name", STUDY + '\n[agents."a/b"]\nkind = "random"\n', ["agents.a/b", "label"]),
    ("unknown table", STUDY + RANDOM + "\n[extra]\nx = 1\n", ["'extra'", "unknown table", "[study]"]),
    ("missing [study]", RANDOM, ["study", "missing [study]"]),
    ("[study] not a table", "study = 3\n" + RANDOM, ["study", "missing [study]"]),
    ("no agents", STUDY, ["agents", "no agents"]),
    ("empty [agents]", STUDY + "\n[agents]\n", ["agents", "no agents"]),
    ("invalid TOML", STUDY + "[agents.a\n", ["not valid TOML"]),
    ("table declared twice", STUDY + RANDOM + RANDOM, ["not valid TOML"]),
]
"""Refused by `parse_study` itself (no agent class imported)."""

BAD_AGENTS = [
    (
        "unknown key in an agent table",
        with_agent("tabular_q", "colour = 1"),
        ["agents.a.colour", "unknown hyperparameter", "allowed:", "num_bins"],
    ),
    (
        "unknown hyperparameter",
        with_agent("custom_dqn", "learning_rat = 0.1"),
        ["agents.a.learning_rat", "unknown hyperparameter", "learning_rate"],
    ),
    (
        "hyperparameter of another kind",
        with_agent("random", "num_bins = [1, 1, 1, 1]"),
        ["agents.a.num_bins", "unknown hyperparameter"],
    ),
    (
        "wrong type of hyperparameter",
        with_agent("custom_dqn", 'learning_starts = "500"'),
        ["agents.a.learning_starts", "integer"],
    ),
    ("list hyperparameter given a string", with_agent("tabular_q", 'num_bins = "x"'), ["agents.a.num_bins", "'x'"]),
    (
        "list hyperparameter with a bad value",
        with_agent("tabular_q", "num_bins = [0, 1, 1, 1]"),
        ["agents.a.num_bins", ">= 1"],
    ),
    ("tabular gamma out of range", with_agent("tabular_q", "gamma = 2"), ["agents.a.gamma", "[0, 1]"]),
    ("dqn gamma out of range", with_agent("custom_dqn", "gamma = 2"), ["agents.a.gamma", "[0, 1]"]),
    (
        "sb3 value its constructor refuses",
        with_agent("sb3_dqn", 'train_freq = [4, "hour"]'),
        ["agents.a", "DQN cannot be built on CartPole-v1", "hour"],
    ),
    (
        "library value that is a string for a number",
        with_agent("stable_baselines3:A2C", 'gamma = "0.99"'),
        ["agents.a.gamma", "must be a number, got '0.99'"],
    ),
    (
        "library flag given as a number",
        with_agent("stable_baselines3:A2C", "use_sde = 1"),
        ["agents.a.use_sde", "must be true or false"],
    ),
    (
        "library device torch does not know",
        with_agent("stable_baselines3:A2C", 'device = "cudax"'),
        ["agents.a.device", "torch device"],
    ),
    (
        "sb3 value of the wrong type",
        with_agent("sb3_dqn", "train_freq = 0.5"),
        ["agents.a.train_freq", "must be an integer or a list, got 0.5"],
    ),
    ("zero learning rate", with_agent("custom_dqn", "learning_rate = 0.0"), ["agents.a.learning_rate", "> 0"]),
    ("nan learning rate", with_agent("custom_dqn", "learning_rate = nan"), ["agents.a.learning_rate", "finite"]),
    ("unknown preset", with_agent("custom_dqn", 'preset = "nope"'), ["agents.a.preset", "zoo", "assignment"]),
    ("unknown sb3 preset", with_agent("sb3_dqn", 'preset = "nope"'), ["agents.a.preset", "'zoo'", "sb3_dqn", "'nope'"]),
    (
        "assignment preset for sb3",
        with_agent("sb3_dqn", 'preset = "assignment"'),
        ["agents.a.preset", "must be 'zoo' for sb3_dqn"],
    ),
    (
        "option sb3 lacks",
        with_agent("sb3_dqn", 'loss = "mse"'),
        ["agents.a.loss", "unknown hyperparameter 'loss'", "DQN takes", "learning_rate"],
    ),
    (
        "net_arch outside policy_kwargs for sb3",
        with_agent("sb3_dqn", "net_arch = [64, 64]"),
        ["agents.a.net_arch", "unknown hyperparameter", "policy_kwargs"],
    ),
    (
        "argument the harness sets for sb3",
        with_agent("sb3_dqn", "seed = 3"),
        ["agents.a.seed", "cannot be set"],
    ),
    (
        "module kind that does not import",
        with_agent("no_such_module_xyz:Agent"),
        ["agents.a.kind", "no_such_module_xyz"],
    ),
    (
        "class of no family",
        with_agent("collections:OrderedDict"),
        [
            "agents.a.kind",
            "of no agent family",
            "BaseAgent",
            "BaseAlgorithm",
            "train() and act(observation, reward, done)",
        ],
    ),
    (
        "library algorithm whose spaces do not fit",
        with_agent("stable_baselines3:SAC"),
        ["agents.a", "SAC cannot be built on CartPole-v1"],
    ),
]
"""Read by `parse_study`, refused by `resolve_study` (the agent's class checks them)."""


def assert_one_line(error: pytest.ExceptionInfo[StudyError], fragments: list[str]) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{SOURCE}: ")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in BAD_STUDIES], ids=[c[0] for c in BAD_STUDIES])
def test_bad_study_is_refused_with_one_line_naming_file_and_key(text: str, fragments: list[str]):
    with pytest.raises(StudyError) as error:
        parse_study(text, SOURCE)
    assert_one_line(error, fragments)


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in BAD_AGENTS], ids=[c[0] for c in BAD_AGENTS])
def test_bad_agent_is_refused_on_resolving_with_one_line_naming_file_and_key(text: str, fragments: list[str]):
    study = parse_study(text, SOURCE)  # reading the file imports no agent class
    assert not study.resolved
    with pytest.raises(StudyError) as error:
        resolve_study(study)
    assert_one_line(error, fragments)


def test_a_good_study_parses_and_resolves_with_defaults_filled():
    study = parse_study(STUDY + RANDOM + '\n[agents.q]\nkind = "tabular_q"\ngamma = 0.9\n', SOURCE)
    assert not study.resolved
    assert dict(study.agent("q").hyperparameters) == {"gamma": 0.9}  # as written until resolved
    study = resolve_study(study)
    assert study.resolved
    assert resolve_study(study) is study
    assert study.name == "t"
    assert study.settings.seeds == (0, 1)
    assert study.settings.env_id == "CartPole-v1"
    assert study.settings.eval_seed == EVAL_SEED_BASE
    # CartPole's profile, written out into the settings
    assert (study.settings.success, study.settings.return_range, study.settings.threshold) == (
        "truncated",
        (0.0, 500.0),
        475.0,
    )
    assert study.settings.max_episode_steps is None  # the env's own time limit
    assert study.labels == ("a", "q")
    assert study.agent("q").kind == "tabular_q"
    assert study.agent("q").hyperparameters["gamma"] == 0.9
    assert study.agent("q").hyperparameters["decay"] == 25.0  # a default, filled in
    # the grid is left to the env (resolved when the agent is built; the run records it)
    assert "num_bins" not in study.agent("q").hyperparameters
    assert "bounds" not in study.agent("q").hyperparameters
    assert study.source == SOURCE


def test_several_labels_may_share_a_kind():
    study = resolve_study(
        parse_study(
            STUDY
            + '\n[agents.q]\nkind = "tabular_q"\n\n[agents.q_fine]\nkind = "tabular_q"\nnum_bins = [1, 1, 8, 12]\n',
            SOURCE,
        )
    )
    assert [spec.kind for spec in study.agents] == ["tabular_q", "tabular_q"]
    assert study.agent("q_fine").hyperparameters["num_bins"] == [1, 1, 8, 12]
    assert "num_bins" not in study.agent("q").hyperparameters  # the env's default grid


def test_missing_file_is_refused_naming_it(tmp_path: pathlib.Path):
    path = tmp_path / "nope.toml"
    with pytest.raises(StudyError, match="no such study file") as error:
        load_study(str(path))
    assert str(path) in str(error.value)
    assert "cartpole" in str(error.value)  # the embedded names are offered
    assert "\n" not in str(error.value)


def test_a_folder_is_refused(tmp_path: pathlib.Path):
    with pytest.raises(StudyError, match="cannot read"):
        load_study(str(tmp_path))


def test_a_file_that_is_not_utf8_is_refused(tmp_path: pathlib.Path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[study]\nname = "\xff"\n')
    with pytest.raises(StudyError, match=r"latin1\.toml"):
        load_study(str(path))


def test_load_names_the_file_in_messages(tmp_path: pathlib.Path):
    path = tmp_path / "bad.toml"
    path.write_text(with_study("seeds = [0, 1]", "seeds = []"))
    with pytest.raises(StudyError) as error:
        load_study(str(path))
    assert str(error.value).startswith(f"{path}: study.seeds")


@pytest.mark.parametrize("name", ["cartpole", "quick"])
def test_embedded_studies_load_and_round_trip_through_to_toml(name: str):
    study = load_study(name)
    assert set(study.labels) >= {"random", "tabular_q", "tabular_sarsa", "custom_dqn", "sb3_dqn"}
    again = parse_study(to_toml(study), "resolved.toml")
    assert again.settings == study.settings
    assert [(s.label, s.kind, dict(s.hyperparameters)) for s in again.agents] == [
        (s.label, s.kind, dict(s.hyperparameters)) for s in study.agents
    ]
    assert set(study.settings.paired) <= {(a, b) for a in study.labels for b in study.labels}
    assert ("custom_dqn", "sb3_dqn") in study.settings.paired


@pytest.mark.parametrize("name", ["cartpole", "quick"])
def test_resolved_embedded_studies_round_trip_through_to_toml(name: str):
    """A resolved study (as a runs folder keeps it, tables such as `policy_kwargs` included)
    reads back, and resolves, to the same hyperparameters; None values are left out."""
    resolved = resolve_study(load_study(name))
    again = parse_study(to_toml(resolved), "resolved.toml")
    assert again.settings == resolved.settings
    for spec in resolved.agents:
        written = {k: v for k, v in spec.hyperparameters.items() if v is not None}
        assert dict(again.agent(spec.label).hyperparameters) == written
    assert resolve_study(again).agents == resolved.agents
    assert resolved.agent("sb3_dqn").hyperparameters["preset"] == "zoo"


def test_paired_labels_must_be_agents():
    text = STUDY.replace("n_eval_episodes = 2", 'n_eval_episodes = 2\npaired = [["a", "b"]]') + RANDOM
    with pytest.raises(StudyError, match=r"study\.paired: 'b' is not an agent label"):
        parse_study(text, SOURCE)
    same = STUDY.replace("n_eval_episodes = 2", 'n_eval_episodes = 2\npaired = [["a", "a"]]') + RANDOM
    with pytest.raises(StudyError, match=r"study\.paired: .*itself"):
        parse_study(same, SOURCE)
    good = STUDY.replace("n_eval_episodes = 2", 'n_eval_episodes = 2\npaired = [["a", "b"]]')
    study = parse_study(good + RANDOM + '\n[agents.b]\nkind = "random"\n', SOURCE)
    assert study.settings.paired == (("a", "b"),)
    assert study.select(labels=["a"]).settings.paired == ()  # a pair goes with either of its agents


def test_select_restricts_agents_and_seeds():
    study = load_study("quick")
    part = study.select(labels=["sb3_dqn", "random"], seeds=[1])
    assert part.labels == ("random", "sb3_dqn")  # the study's order
    assert part.settings.seeds == (1,)
    assert part.settings.paired == ()  # custom_dqn is not selected
    assert (
        dataclasses.replace(part.settings, seeds=study.settings.seeds, paired=study.settings.paired) == study.settings
    )
    both = study.select(labels=["custom_dqn", "sb3_dqn"])
    assert both.settings.paired == study.settings.paired


def test_select_and_replace_keep_a_resolved_study_resolved():
    study = resolve_study(load_study("quick").select(labels=["random", "tabular_q"]))
    assert study.select(seeds=[0]).resolved
    assert study.replace(total_timesteps=500).resolved


def test_select_refuses_unknown_labels_and_empty_seeds():
    study = load_study("quick")
    with pytest.raises(StudyError, match="agents: unknown label 'nope'"):
        study.select(labels=["random", "nope"])
    with pytest.raises(StudyError, match="empty"):
        study.select(seeds=[])
    with pytest.raises(StudyError, match="no agent labelled 'nope'"):
        study.agent("nope")


def test_replace_checks_values_like_the_file():
    study = load_study("quick")
    assert study.replace(total_timesteps=500).settings.total_timesteps == 500
    with pytest.raises(StudyError, match="total_timesteps: must be > 0"):
        study.replace(total_timesteps=0)


def test_study_is_frozen():
    study = load_study("quick")
    assert isinstance(study, Study)
    with pytest.raises(dataclasses.FrozenInstanceError):
        study.settings.total_timesteps = 1  # type: ignore[misc]


def test_a_kind_that_is_not_a_string_is_refused():
    text = STUDY + '\n[agents.a]\nkind = ["random"]\n'
    with pytest.raises(StudyError, match=r"agents\.a\.kind: must be a string"):
        parse_study(text, "t.toml")


def test_a_description_with_quotes_and_newlines_round_trips_through_study_toml():
    study = load_study("quick").replace(description='two\nlines, "quoted", back\\slash, \u00e9')
    assert parse_study(to_toml(study), "again").settings.description == study.settings.description
