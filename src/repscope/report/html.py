"""Rendering result objects into one HTML page."""

from __future__ import annotations

import base64
import datetime as _dt
import gzip
import hashlib
import io
import json
import math
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


def flatten(items: list[Any]) -> list[Any]:
    """The result objects of a list that may hold :class:`Section` objects (sub-sections), in order."""
    out: list[Any] = []
    for it in items:
        if isinstance(it, Section):
            out += flatten(it.results)
        else:
            out.append(it)
    return out


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
    """Save a matplotlib figure as PNG at ``path`` and return it base64-encoded.

    The PNG is palette-quantised (256 colours, what a plot of flat colours and anti-aliased lines needs),
    about a third of the size of the RGBA original.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    _close(fig)
    data = buf.getvalue()
    try:
        from PIL import Image

        img = Image.open(io.BytesIO(data)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        small = io.BytesIO()
        img.save(small, format="PNG", optimize=True)
        if small.tell() < len(data):
            data = small.getvalue()
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        pass
    path.write_bytes(data)
    return base64.b64encode(data).decode("ascii")


def _plotly_js_gz() -> str:
    """plotly.js, gzipped and base64-encoded: inlined once, 1.9 MB instead of 4.8 MB; the page inflates it
    with the browser's ``DecompressionStream`` (offline, no network)."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), 9, mtime=0)).decode("ascii")


def _round(x: float, digits: int = 5) -> float:
    return float(f"{x:.{digits}g}") if math.isfinite(x) else x


def _compact(obj: Any) -> Any:
    """Smaller figure JSON with the same drawing: floats to 5 significant digits, float arrays stored as
    float32 ``bdata`` (plotly.js typed arrays) — far below what a screen can show."""
    if isinstance(obj, float):
        return _round(obj)
    if isinstance(obj, list):
        return [_compact(v) for v in obj]
    if isinstance(obj, dict):
        if "bdata" in obj and obj.get("dtype") == "f8":
            import numpy as np

            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype="<f8").astype("<f4")
            return {**obj, "dtype": "f4", "bdata": base64.b64encode(arr.tobytes()).decode("ascii")}
        return {k: _compact(v) for k, v in obj.items()}
    return obj


def _figure_json(fig: Any, templates: dict[str, Any]) -> str:
    """A plotly figure's JSON, compacted, with its layout template stored once per page in ``templates``."""
    d = json.loads(fig.to_json())
    layout = d.setdefault("layout", {})
    tpl = layout.pop("template", None)
    if tpl is not None:
        key = hashlib.sha1(json.dumps(tpl, sort_keys=True).encode()).hexdigest()[:10]
        templates.setdefault(key, _compact(tpl))
        d["rsTemplate"] = key
    return _script_json(json.dumps(_compact(d), separators=(",", ":"), allow_nan=False))


def _render_section(sec: Section, si: int, used: set[str], figdir: Path, templates: dict[str, Any],
                    embed_png: bool | None, level: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One section (and its sub-sections) → template data, and its entries for ``results.json``."""
    skey = sec.key or _slug(sec.title)
    items: list[dict[str, Any]] = []
    subs: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for ri, res in enumerate(sec.results):
        if isinstance(res, Section):
            sub, sub_entries = _render_section(res, si, used, figdir, templates, embed_png, level + 1)
            sub["key"] = f"{skey}--{sub['key']}"
            subs.append(sub)
            entries.append({"title": res.title, "type": "Section", "status": res.status,
                            "reason": res.reason, "results": sub_entries})
            continue
        rtitle = _title_of(res)
        base = f"{si:02d}-{_slug(skey)[:30]}-{ri:02d}-{_slug(rtitle)[:40]}"
        while base in used:
            base += "x"
        used.add(base)
        item: dict[str, Any] = {"title": rtitle, "id": base}
        d = _call(res, "to_dict")
        entries.append({"title": rtitle, "type": type(res).__name__,
                        "result": to_jsonable(d) if d is not None else None})
        item["summary"] = [p for p in str(_call(res, "summary") or "").split("\n\n") if p.strip()]
        tab = _call(res, "table")
        if tab is not None:
            header, rows = tab
            item["table"] = {"header": [str(h) for h in header],
                             "rows": [[_fmt(c) for c in row] for row in rows],
                             "collapsed": bool(getattr(res, "table_collapsed", False))}
        pfig = _call(res, "plotly")
        if pfig is not None:
            item["plotly"] = _figure_json(pfig, templates)
        fig = _call(res, "plot")
        if fig is not None:
            png_name = f"{base}.png"
            b64 = _png(fig, figdir / png_name)
            item["png"] = f"figures/{png_name}"
            if embed_png or (embed_png is None and pfig is None and getattr(res, "figure_in_report", True)):
                item["png_b64"] = b64
        extra = _call(res, "html")
        if extra:
            item["html"] = str(extra)  # trusted fragment built (and escaped) by repscope
        items.append(item)
    status = sec.status if sec.status in ("ok", "skipped", "failed") else "failed"
    rendered = {"title": sec.title, "intro": sec.intro, "data": sec.data, "key": skey, "cards": items,
                "subsections": subs, "status": status, "reason": sec.reason, "level": min(level, 4)}
    return rendered, entries


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
    interactive figure (``embed_png=None``), so the page stays self-contained either way. A section's
    results may include :class:`Section` objects (sub-sections, e.g. a reproduction on other data);
    a section with ``status`` ``"skipped"`` or ``"failed"`` shows its ``reason`` instead of results.

    Size: plotly.js is inlined once (gzipped), figure layouts share one template, and figure data are
    stored compactly (5 significant digits, float32 arrays).
    """
    import jinja2

    out = Path(out_dir)
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    rendered = []
    results_json: dict[str, Any] = {"meta": to_jsonable(meta or {}), "sections": {}}
    used: set[str] = set()
    templates: dict[str, Any] = {}
    for si, sec in enumerate(sections):
        r, entries = _render_section(sec, si, used, figdir, templates, embed_png, 2)
        rendered.append(r)
        results_json["sections"][r["key"]] = entries
        if sec.status != "ok":
            results_json.setdefault("status", {})[r["key"]] = {"status": sec.status, "reason": sec.reason}
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
        plotly_js_gz=_plotly_js_gz(),
        templates=_script_json(json.dumps(templates, separators=(",", ":"), allow_nan=False)),
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
