"""Rendering result objects into one HTML page."""

from __future__ import annotations

import base64
import datetime as _dt
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repscope.results import to_jsonable


@dataclass
class Section:
    """A report section: a title, an optional introduction, and result objects.

    ``status`` is ``"ok"`` (render the results), ``"skipped"`` (the lens did not apply to this store, e.g.
    no labels) or ``"failed"`` (the lens raised); ``reason`` says why in one sentence and is shown in
    place of the results. ``data`` names what the section analyses (e.g. "the demo model's activations
    on 600 digits" or "built-in dynamical systems, not the model") and is shown under the title.
    """

    title: str
    results: list[Any] = field(default_factory=list)
    intro: str = ""
    key: str = ""
    status: str = "ok"
    reason: str = ""
    data: str = ""


def _slug(text: str) -> str:
    s = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return s or "item"


def _script_json(obj: Any) -> str:
    """JSON safe to embed inside a <script> element (no `</script>` breakout, no HTML entities)."""
    s = obj if isinstance(obj, str) else json.dumps(obj)
    return s.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _title_of(res: Any) -> str:
    t = getattr(res, "title", None)
    if callable(t):
        t = t()
    return str(t) if t else type(res).__name__


def _call(res: Any, name: str) -> Any:
    fn = getattr(res, name, None)
    return fn() if callable(fn) else None


def _close(fig: Any) -> None:
    """Release a figure made through pyplot (library figures are plain ``Figure`` objects, never registered)."""
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def _png(fig: Any, path: Path) -> str:
    """Save a matplotlib figure as PNG at ``path`` and return it base64-encoded."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _close(fig)
    data = buf.getvalue()
    path.write_bytes(data)
    return base64.b64encode(data).decode("ascii")


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_report(
    sections: list[Section],
    out_dir: str | Path,
    *,
    title: str = "repscope report",
    meta: dict[str, Any] | None = None,
    embed_png: bool | None = None,
) -> Path:
    """Write ``report.html``, ``figures/*.png`` and ``results.json`` into ``out_dir``; return the HTML path.

    Each result contributes its ``summary()`` text, ``table()``, an interactive ``plotly()`` figure (if
    it has one) and a PNG from ``plot()``. PNGs are embedded in the HTML only for results without an
    interactive figure (``embed_png=None``), so the page stays self-contained either way.
    """
    import jinja2
    out = Path(out_dir)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    rendered = []
    results_json: dict[str, Any] = {"meta": to_jsonable(meta or {}), "sections": {}}
    used: set[str] = set()
    for si, sec in enumerate(sections):
        skey = sec.key or _slug(sec.title)
        items = []
        results_json["sections"][skey] = []
        for ri, res in enumerate(sec.results):
            rtitle = _title_of(res)
            base = f"{si:02d}-{_slug(skey)}-{ri:02d}-{_slug(rtitle)[:40]}"
            while base in used:
                base += "x"
            used.add(base)
            item: dict[str, Any] = {"title": rtitle, "id": base}
            d = _call(res, "to_dict")
            results_json["sections"][skey].append({"title": rtitle, "type": type(res).__name__,
                                                   "result": to_jsonable(d) if d is not None else None})
            item["summary"] = [p for p in str(_call(res, "summary") or "").split("\n\n") if p.strip()]
            tab = _call(res, "table")
            if tab is not None:
                header, rows = tab
                item["table"] = {"header": [str(h) for h in header],
                                 "rows": [[_fmt(c) for c in row] for row in rows]}
            pfig = _call(res, "plotly")
            if pfig is not None:
                item["plotly"] = _script_json(pfig.to_json())
            fig = _call(res, "plot")
            if fig is not None:
                png_name = f"{base}.png"
                b64 = _png(fig, figdir / png_name)
                item["png"] = f"figures/{png_name}"
                if embed_png or (embed_png is None and pfig is None):
                    item["png_b64"] = b64
            extra = _call(res, "html")
            if extra:
                item["html"] = str(extra)  # trusted fragment built (and escaped) by repscope
            items.append(item)
        rendered.append({"title": sec.title, "intro": sec.intro, "key": skey, "cards": items})
    (out / "results.json").write_text(json.dumps(to_jsonable(results_json), indent=2, allow_nan=False))

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("repscope.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    html = env.get_template("report.html").render(
        title=title,
        sections=rendered,
        meta=[(str(k), _fmt(v)) for k, v in (meta or {}).items()],
        created=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        plotly_js=_plotly_js(),
    )
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        return _fmt(v.item())
    return str(v)
