"""The study folder as a store (issue 12): each pair's identity decides whether its run is kept,
set aside or restored; one writer at a time; `status`, `prune`; crash safety; the report's cache;
longest first.

What the command line does is run on tiny studies (random, tabular_q and a tiny custom_dqn; two
seeds; 1,000 steps): through `python -m harness` in a subprocess where a test kills it or holds
its lock (its workers wait at a gate named by the environment), and otherwise in this process
(`harness.cli.main`). The base study is trained once per module and copied (`shutil.copytree` keeps
the files' mtimes) for each test.
"""

from __future__ import annotations

import functools
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import helpers
import numpy as np
import pytest
from helpers import PROJECT, group_alive, harness, harness_here, kill_group, one_line, pair_dirs, start, wait_for

from harness import analysis, execution, store
from harness.analysis import stats
from harness.execution import PairTask
from harness.report import write_report
from harness.store import RunRecord, StoreBusy, StudyStore, study_status
from harness.studies import identity_hash, parse_study, resolve_study

TINY_DQN = """kind = "custom_dqn"
net_arch = [16]
learning_starts = 200
train_freq = 16
gradient_steps = 1
batch_size = 16
buffer_size = 1000"""


study_text = functools.partial(helpers.study_text, total_timesteps=1000, n_eval_episodes=2)
"""A study file of this module: 1,000 steps, 2 evaluation episodes (the agents always given)."""

BASE_AGENTS = {"random": 'kind = "random"', "tabular_q": 'kind = "tabular_q"', "custom_dqn": TINY_DQN}
TINY = study_text(agents=BASE_AGENTS)
CHANGED = TINY.replace('kind = "tabular_q"', 'kind = "tabular_q"\ngamma = 0.9')
"""The base study with one hyperparameter of one agent changed (tabular_q's gamma is 1.0)."""
PAIRS = [f"{label}/seed_{seed}" for label in BASE_AGENTS for seed in (0, 1)]
TABULAR = ["tabular_q/seed_0", "tabular_q/seed_1"]


GATED_AGENT = '''"""A random agent whose training waits until the file named by $GATE exists (at most 60 s);
without $GATE (a compare run in the test's process, whose fork server has no GATE) it does not wait."""

import os
import pathlib
import time

from custom_agents.random_agent import RandomAgent


class GatedRandom(RandomAgent):
    def learn(self, *args, **kwargs):
        if "GATE" in os.environ:
            gate = pathlib.Path(os.environ["GATE"])
            deadline = time.monotonic() + 60
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        return super().learn(*args, **kwargs)
'''
GATED = study_text("busy", agents={"gated": 'kind = "gated.py:GatedRandom"'})


# -- helpers ------------------------------------------------------------------------------------


def compare(study: str, *extra: object, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """`harness compare STUDY --no-report --runs-dir runs --jobs 2 EXTRA` in `cwd`, to the end, in
    this process (its workers are forked from this process's fork server: they have no $GATE)."""
    result = harness_here("compare", study, "--no-report", "--runs-dir", "runs", "--jobs", 2, *extra, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def lock_pid(study_dir: pathlib.Path) -> int | None:
    """The pid the store's `.lock` names (None while there is none, or it is being written)."""
    try:
        return json.loads((study_dir / store.LOCK_FILE).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def files_of(folder: pathlib.Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a run folder: name -> (bytes, mtime in ns)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


def read_bytes(path: pathlib.Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def contents(folder: pathlib.Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def snapshot(study_dir: pathlib.Path) -> dict[str, dict[str, tuple[bytes, int]]]:
    """Every slot's files, by pair."""
    return {key: files_of(path) for key, path in pair_dirs(study_dir).items()}


def run_json(study_dir: pathlib.Path, key: str) -> dict[str, Any]:
    return json.loads((study_dir / key / "run.json").read_text())


def tfevents(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.glob("events.out.tfevents.*"))


def aside_of(study_dir: pathlib.Path, key: str) -> list[pathlib.Path]:
    """The runs of a pair set aside in `.superseded/`."""
    folder = study_dir / store.SUPERSEDED / key
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def status_rows(stdout: str) -> dict[str, tuple[str, str, str]]:
    """`harness status`'s table: pair -> (status, what changed / why, set aside)."""
    lines = stdout.rstrip("\n").splitlines()
    header = lines[0]
    starts = [header.index(name) for name in ("agent", "seed", "status", "what changed / why", "set aside")]
    rows = {}
    for line in lines[1:-1]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
        rows[f"{cells[0]}/seed_{cells[1]}"] = (cells[2], cells[3], cells[4])
    return rows


def copy_study(source: pathlib.Path, root: pathlib.Path) -> pathlib.Path:
    """Copy a study's runs folder into `root/runs/` (files keep their mtimes); returns the copy."""
    target = root / "runs" / source.name
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The base study (random, tabular_q, custom_dqn x seeds 0, 1), trained once: its runs folder."""
    root = tmp_path_factory.mktemp("base")
    (root / "tiny.toml").write_text(TINY)
    result = compare("tiny.toml", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "tiny: 6 run(s) complete, 0 failed, 0 already complete" in result.stdout
    return root / "runs" / "tiny"


@pytest.fixture
def work(base: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    """A folder holding tiny.toml, changed.toml and a copy of the base study's runs."""
    (tmp_path / "tiny.toml").write_text(TINY)
    (tmp_path / "changed.toml").write_text(CHANGED)
    copy_study(base, tmp_path)
    return tmp_path


@dataclass
class RoundTrip:
    """The base study, tabular_q's gamma changed (compare), then changed back (compare)."""

    study_dir: pathlib.Path
    changed_copy: pathlib.Path
    """The study folder as it was after the change."""
    before: dict[str, dict[str, tuple[bytes, int]]]
    changed: dict[str, dict[str, tuple[bytes, int]]]
    after: dict[str, dict[str, tuple[bytes, int]]]
    changed_out: subprocess.CompletedProcess[str]
    back_out: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def round_trip(base: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> RoundTrip:
    root = tmp_path_factory.mktemp("round_trip")
    (root / "tiny.toml").write_text(TINY)
    (root / "changed.toml").write_text(CHANGED)
    study_dir = copy_study(base, root)
    before = snapshot(study_dir)
    changed_out = compare("changed.toml", cwd=root)
    changed = snapshot(study_dir)
    changed_copy = root / "changed_copy"
    shutil.copytree(study_dir, changed_copy)
    back_out = compare("tiny.toml", cwd=root)
    return RoundTrip(study_dir, changed_copy, before, changed, snapshot(study_dir), changed_out, back_out)


# -- only what changed runs again; changing it back restores ------------------------------------


@pytest.mark.e2e
def test_changing_one_agents_hyperparameter_reruns_only_its_pairs(round_trip: RoundTrip):
    out = round_trip.changed_out
    assert out.returncode == 0, out.stderr
    assert "4 pair(s) already complete in runs/tiny, 2 to run" in out.stdout
    assert "2 run(s) of other settings or code set aside in runs/tiny/.superseded" in out.stdout
    assert "tiny: 2 run(s) complete, 0 failed, 4 already complete" in out.stdout
    before, changed = round_trip.before, round_trip.changed
    assert sorted(changed) == sorted(PAIRS)
    for key in PAIRS:
        if key in TABULAR:
            assert changed[key]["run.json"] != before[key]["run.json"], key
        else:  # the same files, not even rewritten
            assert changed[key] == before[key], key
    study_dir = round_trip.changed_copy
    for key in TABULAR:
        record = run_json(study_dir, key)
        assert (record["status"], record["hyperparameters"]["gamma"]) == ("complete", 0.9)
        assert len(tfevents(study_dir / key)) == 1
        # the old run, whole, in .superseded/ under the hash of the identity it was made with
        (aside,) = aside_of(study_dir, key)
        old = json.loads(before[key]["run.json"][0])
        assert aside.name == identity_hash(RunRecord.from_dict(old).identity())
        assert files_of(aside) == before[key]


@pytest.mark.e2e
def test_changing_it_back_restores_the_runs_set_aside_without_training(round_trip: RoundTrip):
    out = round_trip.back_out
    assert out.returncode == 0, out.stderr
    assert "4 pair(s) already complete in runs/tiny, 2 restored from runs set aside, 0 to run" in out.stdout
    assert "tiny: 0 run(s) complete, 0 failed, 4 already complete, 2 restored" in out.stdout
    assert "[1/" not in out.stdout  # nothing trained
    # every pair's files are the original ones: same bytes, same mtimes (finished_at unchanged)
    assert round_trip.after == round_trip.before
    for key in TABULAR:  # the runs of gamma 0.9 are set aside in turn
        (aside,) = aside_of(round_trip.study_dir, key)
        assert files_of(aside) == round_trip.changed[key]
        assert json.loads(round_trip.changed[key]["run.json"][0])["finished_at"] != ""


@pytest.mark.e2e
def test_status_after_the_round_trip_counts_the_runs_set_aside(round_trip: RoundTrip):
    result = harness_here("status", round_trip.study_dir, cwd=round_trip.study_dir.parent)
    assert result.returncode == 0, result.stderr
    rows = status_rows(result.stdout)
    assert {key: row[0] for key, row in rows.items()} == dict.fromkeys(PAIRS, "complete")
    assert {key for key, row in rows.items() if row[2]} == set(TABULAR)
    assert rows["tabular_q/seed_0"][2] == "1"
    assert result.stdout.strip().splitlines()[-1] == "6 complete of 6 pairs"


# -- prune ------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_prune_deletes_what_no_current_setting_refers_to(round_trip: RoundTrip, tmp_path: pathlib.Path):
    study_dir = copy_study(round_trip.study_dir, tmp_path)
    gone = tmp_path / "runs" / "tiny" / "old_agent" / "seed_0"  # an agent the study no longer has
    shutil.copytree(study_dir / "random" / "seed_0", gone)
    aside = [path for key in TABULAR for path in aside_of(study_dir, key)]
    assert len(aside) == 2
    expected_bytes = sum(store.size_of(path) for path in [*aside, gone])
    before_rows = [(r.label, r.seed, r.status, r.why) for r in study_status(study_dir)]
    before = {key: value for key, value in snapshot(study_dir).items() if not key.startswith("old_agent")}

    result = harness_here("prune", "runs/tiny", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert sorted(lines[:-1]) == sorted(f"deleted {path.relative_to(tmp_path)}" for path in [*aside, gone])
    assert lines[-1] == f"3 run folder(s) deleted, {expected_bytes / 1e6:,.1f} MB freed"
    assert not (study_dir / store.SUPERSEDED).exists() and not (study_dir / "old_agent").exists()
    assert snapshot(study_dir) == before  # the current runs are kept as they are
    assert [(r.label, r.seed, r.status, r.why) for r in study_status(study_dir)] == before_rows
    assert all(r.set_aside == 0 for r in study_status(study_dir))

    again = harness_here("prune", "runs/tiny", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "0 run folder(s) deleted, 0.0 MB freed"


def test_prune_and_status_of_a_missing_folder_are_one_line(tmp_path: pathlib.Path):
    for command in ("status", "prune"):
        result = harness_here(command, "runs/nowhere", cwd=tmp_path)
        assert result.returncode == 2
        assert one_line(result.stderr) == f"harness {command}: runs/nowhere: no such folder"
    (tmp_path / "runs" / "empty").mkdir(parents=True)
    result = harness_here("status", "runs/empty", cwd=tmp_path)
    assert result.returncode == 2
    assert "study.toml: missing" in one_line(result.stderr)


# -- a user's agent: its code is part of its identity -------------------------------------------


@pytest.mark.e2e
def test_editing_a_user_agents_file_makes_only_its_pairs_stale(tmp_path: pathlib.Path):
    shutil.copy(PROJECT / "examples" / "my_agents.py", tmp_path / "my_agents.py")
    (tmp_path / "notes.py").write_text("NOTE = 1\n")  # a file next to it that it does not import
    agents = {"mine": 'kind = "my_agents.py:ExpectedSarsaAgent"', "random": 'kind = "random"'}
    (tmp_path / "byo.toml").write_text(study_text("byo", total_timesteps=600, eval_freq=300, agents=agents))
    first = compare("byo.toml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    study_dir = tmp_path / "runs" / "byo"
    before = snapshot(study_dir)

    (tmp_path / "notes.py").write_text("NOTE = 2\n")
    status = harness_here("status", "runs/byo", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip().splitlines()[-1] == "4 complete of 4 pairs"

    with open(tmp_path / "my_agents.py", "a") as file:
        file.write("\n# an edit\n")
    status = harness_here("status", "runs/byo", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert status_rows(status.stdout) == {
        "mine/seed_0": ("stale", "code: its source changed", ""),
        "mine/seed_1": ("stale", "code: its source changed", ""),
        "random/seed_0": ("complete", "", ""),
        "random/seed_1": ("complete", "", ""),
    }
    assert status.stdout.strip().splitlines()[-1] == "2 stale, 2 complete of 4 pairs"
    assert snapshot(study_dir) == before  # status only reads


# -- status ------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_status_says_complete_missing_stale_failed_and_incomplete(work: pathlib.Path):
    study_dir = work / "runs" / "tiny"
    shutil.rmtree(study_dir / "random" / "seed_0")  # missing
    (study_dir / "random" / "seed_1" / "run.json").write_text("{ garbage")  # corrupt
    (study_dir / "tabular_q" / "seed_1" / "run.json").unlink()  # interrupted
    failed = run_json(study_dir, "custom_dqn/seed_0")
    failed.update(status="failed", error="NonFiniteLossError: train/loss is nan\n(at step 300)")
    (study_dir / "custom_dqn" / "seed_0" / "run.json").write_text(json.dumps(failed))
    edited = run_json(study_dir, "custom_dqn/seed_1")
    edited["code"] = {**edited["code"], "source": "0123456789abcdef"}  # made by other code
    (study_dir / "custom_dqn" / "seed_1" / "run.json").write_text(json.dumps(edited))

    result = harness_here("status", "runs/tiny", cwd=work)
    assert result.returncode == 0, result.stderr
    assert status_rows(result.stdout) == {
        "random/seed_0": ("missing", "", ""),
        "random/seed_1": ("incomplete", "run.json is truncated or corrupt", ""),
        "tabular_q/seed_0": ("complete", "", ""),
        "tabular_q/seed_1": ("incomplete", "no run.json (interrupted, or running)", ""),
        "custom_dqn/seed_0": ("failed", "NonFiniteLossError: train/loss is nan (at step 300)", ""),
        "custom_dqn/seed_1": ("stale", "code: its source changed", ""),
    }
    assert result.stdout.strip().splitlines()[-1] == (
        "1 missing, 2 incomplete, 1 complete, 1 failed, 1 stale of 6 pairs"
    )

    # Against a study file: what `compare changed.toml` would do.
    result = harness_here("status", "runs/tiny", "--study", "changed.toml", cwd=work)
    assert result.returncode == 0, result.stderr
    assert status_rows(result.stdout)["tabular_q/seed_0"] == ("stale", "hyperparameters: gamma 1.0 -> 0.9", "")
    assert harness_here("status", "runs/tiny", "--study", "nothere.toml", cwd=work).returncode == 2


@pytest.mark.e2e
def test_a_corrupt_or_truncated_run_json_is_incomplete_and_only_its_pair_runs_again(work: pathlib.Path):
    study_dir = work / "runs" / "tiny"
    (study_dir / "random" / "seed_1" / "run.json").write_bytes(b"\x00\xffnot json")
    truncated = study_dir / "custom_dqn" / "seed_0" / "run.json"
    truncated.write_bytes(truncated.read_bytes()[:200])
    before = snapshot(study_dir)
    status = harness_here("status", "runs/tiny", cwd=work)
    rows = status_rows(status.stdout)
    for key in ("random/seed_1", "custom_dqn/seed_0"):
        assert rows[key] == ("incomplete", "run.json is truncated or corrupt", "")

    result = compare("tiny.toml", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "4 pair(s) already complete in runs/tiny, 2 to run" in result.stdout
    assert ".superseded" not in result.stdout  # no complete run was there to set aside
    after = snapshot(study_dir)
    assert {key for key in PAIRS if after[key] != before[key]} == {"random/seed_1", "custom_dqn/seed_0"}
    for key in ("random/seed_1", "custom_dqn/seed_0"):
        assert run_json(study_dir, key)["status"] == "complete"
        assert len(tfevents(study_dir / key)) == 1
    assert not (study_dir / store.SUPERSEDED).exists()


# -- --fresh: only the selected pairs ---------------------------------------------------------


@pytest.mark.e2e
def test_fresh_clears_only_the_selected_agents_then_seeds(work: pathlib.Path):
    study_dir = work / "runs" / "tiny"
    before = snapshot(study_dir)
    result = compare("tiny.toml", "--fresh", "--agents", "tabular_q", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "tiny: 2 run(s) complete, 0 failed, 0 already complete" in result.stdout
    middle = snapshot(study_dir)
    assert {key for key in PAIRS if middle[key] != before[key]} == set(TABULAR)
    for key in TABULAR:
        (events,) = tfevents(study_dir / key)  # one attempt: the old one was deleted
        assert events not in before[key]
    assert not (study_dir / store.SUPERSEDED).exists()  # --fresh deletes, it does not set aside

    result = compare("tiny.toml", "--fresh", "--seeds", "1", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "tiny: 3 run(s) complete, 0 failed, 0 already complete" in result.stdout
    after = snapshot(study_dir)
    assert {key for key in PAIRS if after[key] != middle[key]} == {f"{label}/seed_1" for label in BASE_AGENTS}
    recorded = parse_study((study_dir / "study.toml").read_text(), "study.toml")
    assert recorded.settings.seeds == (0, 1) and recorded.labels == tuple(BASE_AGENTS)


# -- one writer at a time ----------------------------------------------------------------------


@pytest.fixture
def gated(tmp_path: pathlib.Path) -> Iterator[tuple[pathlib.Path, dict[str, str]]]:
    """A folder with a study of one agent whose training waits for a gate file, the environment
    naming the gate; the processes of the test are killed at its end."""
    (tmp_path / "gated.py").write_text(GATED_AGENT)
    (tmp_path / "busy.toml").write_text(GATED)
    yield tmp_path, {"GATE": str(tmp_path / "gate")}


@pytest.mark.e2e
def test_a_second_writer_is_refused_while_a_compare_holds_the_folder(gated: tuple[pathlib.Path, dict[str, str]]):
    work, env = gated
    study_dir = work / "runs" / "busy"
    first = start(["compare", "busy.toml", "--no-report", "--runs-dir", "runs", "--jobs", 1], work, env)
    try:
        wait_for(lambda: lock_pid(study_dir) == first.pid, "the first compare holds the folder", first)
        wait_for(lambda: (study_dir / "gated" / "seed_0").is_dir(), "its first pair started", first)
        others = {
            "compare": ["compare", "busy.toml", "--no-report", "--runs-dir", "runs", "--jobs", 1],
            "train": ["train", "gated", "--seed", 1, "busy.toml", "--runs-dir", "runs"],
            "report": ["report", "runs/busy", "--no-video", "--out", "report"],
            "prune": ["prune", "runs/busy"],
        }
        refused = {name: harness_here(*args, cwd=work) for name, args in others.items()}
        status = harness_here("status", "runs/busy", cwd=work)  # reading needs no lock
        for name, done in refused.items():
            stdout, stderr = done.stdout, done.stderr
            assert done.returncode == 2, (name, stdout, stderr)
            line = one_line(stderr)
            assert line.startswith(f"harness {name}: runs/busy: in use by pid {first.pid} on "), line
            assert "(harness compare busy.toml" in line
        assert status.returncode == 0, status.stderr
        assert first.poll() is None
        assert not (work / "report").exists()
        (work / "gate").touch()
        assert first.wait(timeout=120) == 0, (work / "stderr.txt").read_text()
    finally:
        kill_group(first)
    assert "busy: 2 run(s) complete, 0 failed, 0 already complete" in (work / "stdout.txt").read_text()
    for key, path in pair_dirs(study_dir).items():  # never two attempts in one run folder
        assert len(tfevents(path)) == 1, key
        assert run_json(study_dir, key)["status"] == "complete"
    assert sorted(pair_dirs(study_dir)) == ["gated/seed_0", "gated/seed_1"]


@pytest.mark.e2e
def test_the_lock_is_released_when_its_holder_is_killed(gated: tuple[pathlib.Path, dict[str, str]]):
    work, env = gated
    study_dir = work / "runs" / "busy"
    first = start(["compare", "busy.toml", "--no-report", "--runs-dir", "runs", "--jobs", 1], work, env)
    try:
        wait_for(lambda: lock_pid(study_dir) == first.pid, "the compare holds the folder", first)
        wait_for(lambda: (study_dir / "gated" / "seed_0").is_dir(), "its first pair started", first)
        with pytest.raises(StoreBusy, match=f"in use by pid {first.pid}"), StudyStore(study_dir).lock("test"):
            pass
        os.kill(first.pid, signal.SIGKILL)  # the holder alone
        first.wait(timeout=60)
        with StudyStore(study_dir).lock("test"):  # free at once
            assert lock_pid(study_dir) == os.getpid()
    finally:
        kill_group(first)  # its workers too (see test_workers_of_a_killed_compare_...)
    (work / "gate").touch()
    result = compare("busy.toml", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "busy: 2 run(s) complete, 0 failed, 0 already complete" in result.stdout
    for key, path in pair_dirs(study_dir).items():
        assert len(tfevents(path)) == 1, key


@pytest.mark.e2e
def test_workers_of_a_killed_compare_do_not_write_into_a_later_compares_runs(
    gated: tuple[pathlib.Path, dict[str, str]],
):
    work, env = gated
    study_dir = work / "runs" / "busy"
    slot = study_dir / "gated" / "seed_0"
    first = start(["compare", "busy.toml", "--no-report", "--runs-dir", "runs", "--seeds", 0], work, env)
    try:
        wait_for(lambda: slot.is_dir() and lock_pid(study_dir) == first.pid, "the pair started", first)
        time.sleep(0.5)  # the worker waits at its gate
        os.kill(first.pid, signal.SIGKILL)  # the driver alone, as the OOM killer or `kill -9 PID` does
        first.wait(timeout=60)
        # A process of its own, as a user's next `harness compare` is (its worker's gate is open).
        # Not `compare()` in this process: its worker would write at once, and the killed compare's
        # fork server, still importing torch when its driver died, may fork a late worker that clears
        # the slot before its lifeline stops it (a race in the harness this test does not pin down).
        other_gate = work / "gate_b"
        other_gate.touch()
        second = harness(
            *("compare", "busy.toml", "--no-report", "--runs-dir", "runs", "--jobs", 2, "--seeds", 0),
            cwd=work, env={**os.environ, "GATE": str(other_gate)}, timeout=300,
        )  # fmt: skip
        assert "Traceback" not in second.stderr, second.stderr
        assert second.returncode == 0, second.stderr
        complete = (slot / "run.json").read_bytes()
        assert json.loads(complete)["status"] == "complete"
        (work / "gate").touch()  # the first compare's worker, if it still lives, goes on
        deadline = time.monotonic() + 90
        while group_alive(first.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        kill_group(first)
    assert len(tfevents(slot)) == 1, tfevents(slot)
    assert (slot / "run.json").read_bytes() == complete


@pytest.mark.e2e
def test_a_pair_whose_worker_died_is_failed_with_its_exit(tmp_path: pathlib.Path):
    (tmp_path / "dying.py").write_text(
        "import os\n\nfrom custom_agents.random_agent import RandomAgent\n\n\n"
        "class Dying(RandomAgent):\n    def learn(self, *args, **kwargs):\n        os._exit(3)\n"
    )
    (tmp_path / "dying.toml").write_text(study_text("dying", seeds=(0,), agents={"dying": 'kind = "dying.py:Dying"'}))
    result = compare("dying.toml", cwd=tmp_path)
    assert result.returncode == 1
    why = "worker process exited with code 3 before writing its result"
    assert f"failed: dying/seed_0: {why}" in result.stderr
    status = harness_here("status", "runs/dying", cwd=tmp_path)
    assert status_rows(status.stdout)["dying/seed_0"] == ("failed", why, "")


# -- crash safety ------------------------------------------------------------------------------


def check_every_run_is_whole(study_dir: pathlib.Path, originals: dict[str, dict[str, bytes]]) -> dict[str, str]:
    """Each original run is in exactly one place, whole: its slot, or a folder of `.superseded/`;
    nothing half-moved. Returns where each one is ('slot' or 'aside')."""
    where = {}
    for key, files in originals.items():
        slot = study_dir / key
        places = [slot, *aside_of(study_dir, key)]
        whole = [place for place in places if place.is_dir() and contents(place) == files]
        assert len(whole) == 1, (key, places)
        for place in places:
            if place in whole or not place.is_dir():
                continue
            # the slot may hold a new attempt (or be cleared); a folder set aside is a whole run
            assert place == slot, f"{place}: a folder set aside that is not a whole run"
            assert read_bytes(slot / "run.json") != files["run.json"], f"{slot}: half of the original run"
        assert {"run.json", "episodes.csv", "evals.csv"} <= set(files) and any(n.startswith("model.") for n in files)
        where[key] = "slot" if whole[0] == slot else "aside"
    return where


@pytest.mark.e2e
def test_a_compare_killed_while_it_sets_runs_aside_loses_no_run(base: pathlib.Path, tmp_path: pathlib.Path):
    """kill -9 as soon as `.superseded/` appears (then a little later): every run is in its slot or
    set aside, whole; the next compare completes."""
    every = TINY.replace("eval_freq = 500", "eval_freq = 250")  # a study-wide setting: every pair stale
    originals = {key: contents(path) for key, path in pair_dirs(base).items()}
    for delay in (0.0, 0.002, 0.02):
        work = tmp_path / f"after_{delay}"
        work.mkdir()
        (work / "every.toml").write_text(every)
        study_dir = copy_study(base, work)
        process = start(["compare", "every.toml", "--no-report", "--runs-dir", "runs", "--jobs", 1], work)
        aside = study_dir / store.SUPERSEDED
        try:
            deadline = time.monotonic() + 120
            while not aside.exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(delay)
        finally:
            kill_group(process)
        assert aside.exists(), (work / "stderr.txt").read_text()
        check_every_run_is_whole(study_dir, originals)

    result = compare("every.toml", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "tiny: 6 run(s) complete, 0 failed" in result.stdout
    assert check_every_run_is_whole(study_dir, originals) == dict.fromkeys(PAIRS, "aside")
    for key, path in pair_dirs(study_dir).items():
        assert run_json(study_dir, key)["evaluation"]["eval_freq"] == 250
        assert len(tfevents(path)) == 1, key


class Crash(Exception):
    """The process died here."""


class RenameBudget:
    """`os.rename` (what the store moves runs with) that works `n` times, then crashes."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.real_rename = os.rename

    def __call__(self, source: Any, target: Any) -> None:
        if self.n == 0:
            raise Crash
        self.n -= 1
        self.real_rename(source, target)


class NoTraining:
    """An executor that trains nothing and keeps the tasks it was given."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def run(self, tasks: Any, runs_dir: pathlib.Path, progress: Any) -> dict[str, dict]:
        self.keys += [task.key for task in tasks]
        return {}


@pytest.mark.e2e
@pytest.mark.parametrize("renames", [0, 1, 3, 5])
def test_a_crash_between_renames_leaves_every_run_whole(
    work: pathlib.Path, monkeypatch: pytest.MonkeyPatch, renames: int
):
    study_dir = work / "runs" / "tiny"
    originals = {key: contents(path) for key, path in pair_dirs(study_dir).items()}
    every = resolve_study(parse_study(TINY.replace("eval_freq = 500", "eval_freq = 250"), str(work / "every.toml")))
    tiny = resolve_study(parse_study(TINY, str(work / "tiny.toml")))
    runs_dir = work / "runs"

    def run(study: Any, budget: int | None) -> NoTraining:
        executor = NoTraining()
        with monkeypatch.context() as patch:
            if budget is not None:
                patch.setattr(os, "rename", RenameBudget(budget))
            execution.compare(study, runs_dir, executor, stream=io.StringIO())  # type: ignore[arg-type]
        return executor

    # setting the runs aside crashes after `renames` of them
    with pytest.raises(Crash):
        run(every, renames)
    where = check_every_run_is_whole(study_dir, originals)
    assert list(where.values()).count("aside") == renames
    # the next compare sets the rest aside and would train every pair
    assert sorted(run(every, None).keys) == sorted(PAIRS)
    assert check_every_run_is_whole(study_dir, originals) == dict.fromkeys(PAIRS, "aside")

    # back to the original settings: restoring crashes after `renames` of them
    with pytest.raises(Crash):
        run(tiny, renames)
    where = check_every_run_is_whole(study_dir, originals)
    assert list(where.values()).count("slot") == renames
    assert run(tiny, None).keys == []  # the rest come back: nothing to train
    assert check_every_run_is_whole(study_dir, originals) == dict.fromkeys(PAIRS, "slot")
    assert {key: contents(path) for key, path in pair_dirs(study_dir).items()} == originals


# -- the report's cache ------------------------------------------------------------------------

REPS = 200


def readme_without_date(path: pathlib.Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if not line.startswith("- **date**:")]


@pytest.mark.e2e
def test_a_report_from_the_cache_is_the_report_from_scratch(base: pathlib.Path, tmp_path: pathlib.Path):
    study_dir = copy_study(base, tmp_path)
    out = tmp_path / "report"  # the README names its folder: the same one each time

    def report(cache: bool) -> tuple[list[str], bytes]:
        readme = write_report(study_dir, out, video=False, reps=REPS, cache=cache)
        return readme_without_date(readme), (out / "summary.csv").read_bytes()

    numbers = study_dir / store.CACHE_FOLDER / store.NUMBERS_FILE
    cold = report(cache=True)  # fills the cache
    assert numbers.is_file()
    kept = numbers.read_bytes()
    warm = report(cache=True)
    assert numbers.read_bytes() == kept  # nothing new to keep
    scratch = report(cache=False)
    assert cold == scratch and warm == scratch


@pytest.mark.e2e
def test_after_one_agent_changed_only_its_intervals_are_computed_again(
    round_trip: RoundTrip, base: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    study_dir = copy_study(base, tmp_path)
    calls: list[tuple[str, int]] = []

    def counted(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)  # the cache keys intervals by the function's name
        def wrapper(values: Any, state: int, *args: Any, **kwargs: Any) -> Any:
            calls.append((function.__name__, state))
            return function(values, state, *args, **kwargs)

        return wrapper

    for name in ("mean_interval", "iqm_interval", "pointwise_mean_interval"):
        monkeypatch.setattr(stats, name, counted(getattr(stats, name)))

    scratch = analysis.load(study_dir, reps=REPS)
    assert len(calls) >= 3 * len(BASE_AGENTS)
    keys = set(json.loads((study_dir / store.CACHE_FOLDER / store.NUMBERS_FILE).read_text()))
    calls.clear()
    cached = analysis.load(study_dir, reps=REPS)
    assert calls == []  # everything from the cache
    pd_equal(cached.envs["CartPole-v1"].summary, scratch.envs["CartPole-v1"].summary)

    # tabular_q's runs are replaced by those of gamma 0.9 (the study as it was after the change)
    for key in TABULAR:
        shutil.rmtree(study_dir / key)
        shutil.copytree(round_trip.changed_copy / key, study_dir / key)
    shutil.copy(round_trip.changed_copy / "study.toml", study_dir / "study.toml")
    changed = analysis.load(study_dir, reps=REPS)
    tabular_states = {
        analysis.random_state("tabular_q", name)
        for name in ("final_mean", "final_iqm", "success", "eval_curve", "train_curve", "success_curve")
    }
    assert calls and {state for _, state in calls} <= tabular_states
    assert {name for name, _ in calls} >= {"mean_interval", "iqm_interval", "pointwise_mean_interval"}
    new_keys = set(json.loads((study_dir / store.CACHE_FOLDER / store.NUMBERS_FILE).read_text()))
    assert new_keys != keys and len(new_keys) == len(keys)  # tabular_q's entries replaced, none left over
    # the numbers of the agents that did not change are the same
    summary = changed.envs["CartPole-v1"].summary.set_index("agent")
    before = scratch.envs["CartPole-v1"].summary.set_index("agent")
    pd_equal(summary.loc[["random", "custom_dqn"]], before.loc[["random", "custom_dqn"]])
    assert summary.loc["tabular_q"].to_dict() != before.loc["tabular_q"].to_dict()


def pd_equal(a: Any, b: Any) -> None:
    import pandas as pd

    pd.testing.assert_frame_equal(a, b, check_exact=True)


class ReplaceTogether:
    """`os.replace` that waits until two threads reach it, then renames."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=10)
        self.real_replace = os.replace

    def __call__(self, source: Any, target: Any) -> None:
        self.barrier.wait()
        self.real_replace(source, target)


def test_two_reports_at_once_both_save_their_cache(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / ".cache"
    caches = [store.Cache(folder), store.Cache(folder)]
    for i, cache in enumerate(caches):
        cache.numbers("x", [np.arange(3.0) + i], 0, compute=lambda i=i: [float(i)])
    monkeypatch.setattr(os, "replace", ReplaceTogether())
    errors: list[BaseException] = []

    def save(cache: store.Cache) -> None:
        try:
            cache.save()
        except BaseException as error:  # kept for the assertion
            errors.append(error)

    threads = [threading.Thread(target=save, args=(cache,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(json.loads((folder / store.NUMBERS_FILE).read_text())) == 1


# -- longest first -----------------------------------------------------------------------------


def fake_run(folder: pathlib.Path, label: str, wall_time_s: float, steps: int, env_id: str = "CartPole-v1") -> None:
    """A complete run.json with only what the schedule reads."""
    folder.mkdir(parents=True)
    record = {
        "status": "complete",
        "label": label,
        "env_id": env_id,
        "steps_done": steps,
        "timings": {"wall_time_s": wall_time_s},
    }
    (folder / "run.json").write_text(json.dumps(record))


def test_longest_first_orders_by_recorded_speed_else_by_the_cost_hint(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    agents = {"random": 'kind = "random"', "tabular_q": 'kind = "tabular_q"', "sb3_dqn": 'kind = "sb3_dqn"'}
    study = resolve_study(parse_study(study_text("order", seeds=(0,), agents=agents), str(tmp_path / "order.toml")))
    tasks = [PairTask(study, label, 0) for label in study.labels]
    study_dir = tmp_path / "runs" / "order"
    keeper = StudyStore(study_dir)
    monkeypatch.delenv("HARNESS_SCHEDULE", raising=False)

    def order() -> list[str]:
        return [task.label for task in execution.longest_first(tasks, keeper)]

    assert order()[0] == "sb3_dqn"  # no runs yet: the registry's cost hints (SB3's DQN is the slowest)
    # tabular_q's earlier runs (here one set aside) say it takes 10 ms a step; random's 1 us
    fake_run(study_dir / store.SUPERSEDED / "tabular_q" / "seed_0" / "0123456789abcdef", "tabular_q", 10.0, 1000)
    fake_run(study_dir / "random" / "seed_3", "random", 0.001, 1000)
    assert order() == ["tabular_q", "sb3_dqn", "random"]
    # a run of another env does not count (here sb3_dqn's, fast)
    fake_run(study_dir / "Acrobot-v1" / "sb3_dqn" / "seed_0", "sb3_dqn", 1e-6, 1000, env_id="Acrobot-v1")
    assert order() == ["tabular_q", "sb3_dqn", "random"]

    monkeypatch.setenv("HARNESS_SCHEDULE", "study-order")
    assert order() == ["random", "tabular_q", "sb3_dqn"]
