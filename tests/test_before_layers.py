"""A runs folder made by the harness before it was split into layers (`tests/data/before-layers`,
made at commit 2403a35, see its README) is still the same study to the harness of today: every
pair is `complete` for `harness status` (the agents' code fingerprints and settings unchanged),
and `harness report` writes the same README.md and CSVs, apart from the date line.

The identity includes the installed library versions: if the venv's torch, SB3, gymnasium or
numpy differ from the versions the folder was made with, every pair is rightly stale for that
reason alone, and the test checks that instead.
"""

from __future__ import annotations

import pathlib
import shutil

import pytest
from helpers import run_json

from harness.cli import main
from harness.studies import library_versions

DATA = pathlib.Path(__file__).parent / "data" / "before-layers"
STUDIES = {"quick": 10, "classic-control": 12}


@pytest.fixture
def before(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A copy of the folder, the current folder of the test (the reports name `runs/<study>`)."""
    shutil.copytree(DATA / "runs", tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def made_with_these_libraries() -> bool:
    record = run_json(next((DATA / "runs").rglob("seed_0")))
    assert record is not None
    return record["libraries"] == library_versions()


@pytest.mark.parametrize("study", list(STUDIES))
def test_every_pair_made_before_the_layers_is_still_complete(
    study: str, before: pathlib.Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["status", f"runs/{study}"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    if made_with_these_libraries():
        assert last == f"{STUDIES[study]} complete of {STUDIES[study]} pairs"
    else:
        assert last == f"{STUDIES[study]} stale of {STUDIES[study]} pairs"


@pytest.mark.parametrize("study", list(STUDIES))
def test_the_report_of_a_folder_made_before_the_layers_is_the_same(study: str, before: pathlib.Path):
    assert main(["report", f"runs/{study}", "--out", f"reports/{study}", "--no-video"]) == 0
    old_folder, new_folder = DATA / "reports" / study, before / "reports" / study
    for name in sorted(path.name for path in old_folder.iterdir()):
        old = (old_folder / name).read_text().splitlines()
        new = (new_folder / name).read_text().splitlines()
        if name == "README.md":
            dates = [i for i, line in enumerate(old) if line.startswith("- **date**: ")]
            assert len(dates) == 1 and new[dates[0]].startswith("- **date**: ")
            del old[dates[0]], new[dates[0]]
        assert new == old, name
