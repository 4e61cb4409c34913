"""The protocol every analysis result follows, so the report can render any of them.

A result is a small dataclass with:

- ``to_dict()`` → JSON-serialisable dict (goes into ``results.json``);
- ``plot()`` → a matplotlib ``Figure`` (saved as PNG);
- optionally ``plotly()`` → a plotly ``Figure`` (interactive view in the HTML report);
- optionally ``summary()`` → a short plain-text reading for the report (escaped there);
- optionally ``table()`` → ``(header, rows)`` for an HTML table (escaped there);
- optionally ``html()`` → an extra trusted HTML fragment *built by repscope itself*, whose user-supplied
  strings are escaped at construction (used e.g. for the mapper graph view);
- ``title`` (class attribute or property) → section title.

Analyses never import the report; the report only duck-types on these names.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays (and nested containers) into plain JSON types.

    Non-finite floats become ``None`` so the output is strict JSON.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), indent=2, allow_nan=False)
