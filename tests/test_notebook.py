"""The example notebook (`examples/assignment.ipynb`), executed top to bottom in a real Jupyter
kernel with small budgets: the assignment's classes, defined in its cells, are checked, compared
with the library's agents through `with_agent` and `compare`, and shown inline."""

from __future__ import annotations

import json
import pathlib

import nbclient
import nbformat
import pytest

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "examples" / "assignment.ipynb"


@pytest.mark.slow
@pytest.mark.e2e
def test_the_assignment_notebook_runs_in_a_kernel(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ASSIGNMENT_SEEDS", "1")
    monkeypatch.setenv("ASSIGNMENT_BUDGET", "1000")
    monkeypatch.setenv("ASSIGNMENT_JOBS", "2")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "commit it unrun"
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    kinds = {kind for output in outputs for kind in output.get("data", {})}
    assert {"text/html", "image/png", "image/gif", "application/vnd.jupyter.widget-view+json"} <= kinds
    text = "".join(output.get("text", "") for output in outputs)
    assert "13 of 13 checks hold" in text
    html = "".join(output.get("data", {}).get("text/html", "") for output in outputs)
    for label in ("random_student", "q_student", "dqn_student", "tabular_q", "custom_dqn", "sb3_dqn"):
        assert f"<td>{label}</td>" in html
    study = tmp_path / "runs" / "assignment"
    records = [json.loads(path.read_text()) for path in sorted(study.rglob("run.json"))]
    assert len(records) == 6 and all(record["status"] == "complete" for record in records)
    families = {record["label"]: record["family"] for record in records}
    assert families["q_student"] == families["dqn_student"] == families["random_student"] == "assignment"
    assert (tmp_path / "reports" / "assignment" / "README.md").is_file()
