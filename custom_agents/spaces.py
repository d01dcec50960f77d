"""Spaces as plain data (what a saved agent or network records of them), and back."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


def space_to_plain(space: spaces.Space) -> dict[str, Any]:
    """A JSON-ready description of a `Box` or `Discrete` space (enough to rebuild it)."""
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "low": space.low.tolist(),
            "high": space.high.tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    raise ValueError(f"unsupported space {space}")


def space_from_plain(data: dict[str, Any]) -> spaces.Space:
    """Inverse of `space_to_plain`."""
    if data["type"] == "Box":
        return spaces.Box(
            low=np.array(data["low"], dtype=data["dtype"]),
            high=np.array(data["high"], dtype=data["dtype"]),
            shape=tuple(data["shape"]),
            dtype=data["dtype"],
        )
    return spaces.Discrete(data["n"], start=data["start"])


__all__ = ["space_from_plain", "space_to_plain"]
