"""Event files written without TensorFlow: what the harness adds to a study's TensorBoard views.

A run's own events (SB3's logger: `rollout/...`, `eval/...`, `episode/...`, written live) are
never touched. Beside them the harness writes whole event files of its own, each under a fixed
name through a temporary one (`write_events`), so that writing it again replaces it:

- an HParams experiment config (`experiment`: the columns, each with its domain, and the metrics)
  and one session per run or trial (`session`: its values, one type per column);
- scalars (`scalars`): a session's metrics, an across-seeds band's mean and bounds;
- a custom-scalars layout of margin charts (`margin_layout`): a value and its lower and upper tags
  drawn as a band.

The writers are TensorBoard's own where they work without TensorFlow (`hparams.summary_v2`'s
`hparams_config_pb` and `hparams_pb`, the custom-scalars plugin's layout proto and metadata); the
records are framed by TensorBoard's `RecordWriter`.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
from tensorboard.plugins.hparams import summary_v2 as hparams
from tensorboard.summary.writer.record_writer import RecordWriter

Summary = summary_pb2.Summary
HParamValue = bool | int | float | str
FILE_PREFIX = "events.out.tfevents.harness-"
"""The harness's own event files: `events.out.tfevents.harness-<what>`, one of each per folder."""


def write_events(folder: pathlib.Path, what: str, summaries: Iterable[tuple[int, Summary]]) -> pathlib.Path:
    """Write `folder/events.out.tfevents.harness-<what>`: the summaries, each at its step, through
    a temporary name (a reader sees the old file or the new one, whole)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{FILE_PREFIX}{what}"
    temporary = folder / f".{path.name}.{os.getpid()}.tmp"
    now = time.time()
    with open(temporary, "wb") as file:
        writer = RecordWriter(file)
        writer.write(event_pb2.Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
        for step, summary in summaries:
            writer.write(event_pb2.Event(wall_time=now, step=int(step), summary=summary).SerializeToString())
    os.replace(temporary, path)
    return path


def scalars(values: Mapping[str, float]) -> Summary:
    """Scalars (stored as float32, as every TensorBoard scalar); NaN values are left out."""
    return Summary(
        value=[
            Summary.Value(tag=tag, simple_value=float(value))
            for tag, value in values.items()
            if value is not None and not math.isnan(value)
        ]
    )


def hparam_value(value: Any) -> HParamValue:
    """A value as an HParams column holds it: a bool, a number or a string as it is, None as
    "none", a list, tuple or table as its JSON."""
    if value is None:
        return "none"
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value, sort_keys=True, default=str)


def column_types(sessions: Sequence[Mapping[str, Any]]) -> dict[str, type]:
    """Each column's one type over the sessions (`bool`, `float` or `str`): a column whose values
    mix types (a number and a string, a flag and a number) is a string column."""
    found: dict[str, set[type]] = {}
    for values in sessions:
        for name, value in values.items():
            held = hparam_value(value)
            found.setdefault(name, set()).add(bool if isinstance(held, bool) else float if _number(held) else str)
    return {name: next(iter(kinds)) if len(kinds) == 1 else str for name, kinds in found.items()}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def typed(value: Any, kind: type) -> HParamValue:
    """A value as its column's type holds it."""
    held = hparam_value(value)
    if kind is str:
        return held if isinstance(held, str) else json.dumps(held)
    if kind is float:
        return float(held)  # type: ignore[arg-type]
    return held


@dataclass(frozen=True)
class Session:
    """A run, or a tune's trial, as an HParams session: the folder its event file goes into, its
    name in the view, its values (a column each), its metrics and the step they are written at,
    and when it started (seconds since the epoch; None: unknown)."""

    folder: pathlib.Path
    name: str
    values: Mapping[str, Any]
    metrics: Mapping[str, float]
    step: int
    start: float | None = None


def write_sessions(sessions: Sequence[Session], what: str) -> None:
    """Each session's event file (`FILE_PREFIX` + `what`) into its folder: its values, one type per
    column over all of `sessions`, then its metrics."""
    types = column_types([s.values for s in sessions])
    for s in sessions:
        write_events(s.folder, what, [(0, session(s.values, types, s.name, s.start)), (s.step, scalars(s.metrics))])


def experiment(
    sessions: Sequence[Mapping[str, Any]], metrics: Sequence[tuple[str, str]], order: Sequence[str] = ()
) -> Summary:
    """The HParams experiment of these sessions' values (one column per name, in `order` first,
    each with the domain of its values) and metrics ((tag, display name))."""
    types = column_types(sessions)
    names = [*[name for name in order if name in types], *sorted(name for name in types if name not in order)]
    columns = []
    for name in names:
        values = {typed(values[name], types[name]) for values in sessions if name in values}
        if types[name] is float:
            domain: Any = hparams.RealInterval(float(min(values)), float(max(values)))  # type: ignore[type-var]
        else:
            domain = hparams.Discrete(sorted(values))  # type: ignore[type-var]
        columns.append(hparams.HParam(name, domain))
    return hparams.hparams_config_pb(
        hparams=columns, metrics=[hparams.Metric(tag, display_name=display) for tag, display in metrics]
    )


def session(values: Mapping[str, Any], types: Mapping[str, type], name: str, start_time: float | None) -> Summary:
    """One HParams session: its values, each as its column's type (`column_types`)."""
    return hparams.hparams_pb(
        {key: typed(value, types.get(key, str)) for key, value in values.items()},
        trial_id=name,
        start_time_secs=start_time,
    )


def margin_layout(categories: Mapping[str, Sequence[tuple[str, str, str, str]]]) -> Summary:
    """A custom-scalars layout: per category, margin charts (title, value tag, lower tag, upper
    tag): every run holding the tags is drawn as its value with the band between its bounds."""
    layout = layout_pb2.Layout(
        category=[
            layout_pb2.Category(
                title=category,
                chart=[
                    layout_pb2.Chart(
                        title=title,
                        margin=layout_pb2.MarginChartContent(
                            series=[layout_pb2.MarginChartContent.Series(value=value, lower=lower, upper=upper)]
                        ),
                    )
                    for title, value, lower, upper in charts
                ],
            )
            for category, charts in categories.items()
        ]
    )
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        string_val=[layout.SerializeToString()],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
    )
    return Summary(
        value=[
            Summary.Value(
                tag=custom_scalar_metadata.CONFIG_SUMMARY_TAG,
                tensor=tensor,
                metadata=custom_scalar_metadata.create_summary_metadata(),
            )
        ]
    )
