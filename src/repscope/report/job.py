"""The report of any store: every lens that applies to what the store holds, one section each.

``build_report(store, out_dir)`` writes ``report.html`` (+ ``results.json``, figures); ``analyse_store``
returns the sections without writing. Per section: the lens's reading and results; or ``status="skipped"``
with the reason the lens does not apply (``<lens>.applies(store)``); or ``status="failed"`` with the
one-line error — the other sections are still written. The library's report runs the lenses only; demos
and the papers' experiments live in :mod:`repscope.experiments`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import repscope.lenses as lenses
from repscope.errors import InputError, RepscopeError, StoreError
from repscope.report.html import Section, write_report

__all__ = ["LensSection", "SECTION_KEYS", "analyse_store", "build_report", "report_options", "run_lens"]

#: The report's sections: what was captured, then one per lens of the registry (repscope.lenses), in its order.
SECTION_KEYS = ["capture", *lenses.keys()]


@dataclass
class LensSection(Section):
    """A :class:`Section` (``status`` ``"ok"``/``"skipped"``/``"failed"``, ``reason`` in one line, ``data`` =
    what it analyses) that also records the seconds it took. The report shows the status and reason."""

    seconds: float = 0.0

    @classmethod
    def not_run(cls, title: str, intro: str, key: str, status: str, reason: str, data: str,
                seconds: float = 0.0) -> LensSection:
        """A section that was ``"skipped"`` (``reason`` = why the lens does not apply) or ``"failed"``
        (``reason`` = the error in one line); the rest of the report is still written."""
        return cls(title, [], intro=intro, key=key, status=status, reason=reason, data=data, seconds=seconds)


def _data_of(store: Any) -> str:
    name = Path(str(getattr(store, "path", "store"))).name
    return f"the store {name}: {store.n_samples} samples, {len(list(store.layers))} layers"


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return msg if isinstance(exc, RepscopeError) else f"{type(exc).__name__}: {msg} (a bug — please report it)"


def _applies(mod: Any, store: Any, options: dict[str, Any]) -> str | None:
    """``mod.applies(store, **options)`` with the options its ``applies`` takes (a unit given by the user can
    make a lens apply that has no default for this store)."""
    import inspect

    params = inspect.signature(mod.applies).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return mod.applies(store, **options)
    return mod.applies(store, **{k: v for k, v in options.items() if k in params and k != "store"})


def _check_sections(sections: list[str] | None) -> list[str]:
    if sections is None:
        return list(SECTION_KEYS)
    unknown = [s for s in sections if s not in SECTION_KEYS]
    if unknown:
        raise InputError(f"unknown report section(s) {unknown}; choose from {', '.join(SECTION_KEYS)}")
    return list(sections)


def run_lens(
    key: str,
    store: Any,
    *,
    seed: int = 0,
    progress: bool = False,
    n_workers: int | None = None,
    scheduler: Any = None,
    device: Any = None,
    options: dict[str, Any] | None = None,
) -> LensSection:
    """One lens on ``store`` as a report section (never raises for a lens error: the section says it)."""
    lens = lenses.get(key)
    title, intro = lens.title, lens.intro
    t0 = time.perf_counter()
    mod = lens.module()
    try:
        why = _applies(mod, store, dict(options or {}))
    except StoreError:  # damaged data: no report section may be built on it
        raise
    except Exception as exc:  # a lens that cannot even inspect the store
        return LensSection.not_run(title, intro, key, "failed", _one_line(exc), _data_of(store),
                                   time.perf_counter() - t0)
    if why:
        return LensSection.not_run(title, intro, key, "skipped", why, _data_of(store), time.perf_counter() - t0)
    try:
        analysis = mod.analyse(store, seed=seed, progress=progress, n_workers=n_workers, scheduler=scheduler,
                               device=device, **dict(options or {}))
    except StoreError:  # damaged data: refuse the whole report (one line, exit 2) rather than show a part
        raise
    except Exception as exc:  # the report is still written; the section says what went wrong
        return LensSection.not_run(title, intro, key, "failed", _one_line(exc), _data_of(store),
                                   time.perf_counter() - t0)
    return LensSection(title, [analysis.reading_card(), *analysis.results], intro=intro, key=key,
                       data=_data_of(store), seconds=time.perf_counter() - t0)


def analyse_store(
    store: Any,
    out_dir: str | Path | None = None,
    sections: list[str] | None = None,
    *,
    seed: int = 0,
    progress: bool = False,
    n_workers: int | None = None,
    scheduler: Any = None,
    device: Any = None,
    options: dict[str, dict[str, Any]] | None = None,
    capture_extra: dict[str, Any] | None = None,
    log: Any = None,
) -> tuple[list[LensSection], dict[str, float]]:
    """Run every requested section (default all of :data:`SECTION_KEYS`) on ``store``.

    ``options`` maps a section key to keyword arguments of its lens's ``analyse`` (e.g.
    ``{"descrambling": {"weights": "model.pt"}}``). Returns the sections and the seconds per section.
    ``out_dir`` is accepted for symmetry with :func:`build_report` (nothing is written).
    """
    from repscope.store.summary import CaptureSummary

    chosen = _check_sections(sections)
    options = dict(options or {})
    bad = [k for k in options if k not in SECTION_KEYS]
    if bad:
        raise InputError(f"options given for unknown section(s) {bad}; choose from {', '.join(SECTION_KEYS)}")
    out: list[LensSection] = []
    timings: dict[str, float] = {}
    if "capture" in chosen:
        out.append(LensSection("Capture", [CaptureSummary.from_store(store, **(capture_extra or {}))],
                               intro="What was recorded, from which model, and how.", key="capture",
                               data=_data_of(store)))
    for key in lenses.keys():
        if key not in chosen:
            continue
        if log:
            log(f"running {key} …")
        sec = run_lens(key, store, seed=seed, progress=progress, n_workers=n_workers, scheduler=scheduler,
                       device=device, options=options.get(key))
        if log and sec.status != "ok":
            log(f"  {key} {sec.status}: {sec.reason}")
        timings[key] = sec.seconds
        out.append(sec)
    return out, timings


def section_status(sections: list[Any]) -> dict[str, dict[str, str]]:
    """``{key: {"status": …, "reason": …}}`` for the run card and ``results.json``'s meta."""
    return {s.key: {"status": getattr(s, "status", "ok"), "reason": getattr(s, "reason", "")} for s in sections}


_PENDING = {"time writing the report (s)": "RSPENDINGWRITE", "time other (s)": "RSPENDINGOTHER",
            "total time (s)": "RSPENDINGTOTAL"}


def build_report(
    store: Any,
    out_dir: str | Path,
    sections: list[str] | None = None,
    *,
    title: str | None = None,
    meta: dict[str, Any] | None = None,
    extra_sections: list[Any] | None = None,
    started: float | None = None,
    phases: dict[str, float] | None = None,
    **kwargs: Any,
) -> Path:
    """Analyse ``store`` (see :func:`analyse_store`; keyword arguments go there) and write the report into
    ``out_dir``; ``extra_sections`` are appended (e.g. experiments). Returns the path of ``report.html``.

    Timing: the run card's "total time (s)" counts from ``started`` (a ``time.perf_counter()`` value; default:
    this call) to the report written, and is broken down into ``phases`` (seconds of work done before this
    call, e.g. ``{"capture": 3.1}``), each lens, each extra section (its ``seconds``), writing the report, and
    "other" (the rest), so that the parts add up to the total."""
    t0 = time.perf_counter() if started is None else float(started)
    lens_secs, timings = analyse_store(store, out_dir, sections, **kwargs)
    extra = list(extra_sections or [])
    secs: list[Section] = [*lens_secs, *extra]
    parts = {**(phases or {}), **timings}
    for s in extra:
        sec = float(getattr(s, "seconds", float("nan")))
        if sec == sec:  # not NaN
            parts[s.key] = parts.get(s.key, 0.0) + sec
    name = Path(str(getattr(store, "path", "store"))).name
    m = {"store": str(getattr(store, "path", "")), "seed": kwargs.get("seed", 0), **(meta or {}),
         "sections": ", ".join(f"{s.key} {getattr(s, 'status', 'ok')}" for s in secs),
         **{f"time {k} (s)": round(v, 2) for k, v in parts.items()}, **_PENDING}
    t_write = time.perf_counter()
    path = write_report(secs, out_dir, title=title or f"repscope report — {name}", meta=m)
    end = time.perf_counter()
    total, write = end - t0, end - t_write
    done = {"time writing the report (s)": round(write, 2),
            "time other (s)": round(max(0.0, total - write - sum(parts.values())), 2),
            "total time (s)": round(total, 2)}
    html = path.read_text(encoding="utf-8")
    for k, token in _PENDING.items():
        html = html.replace(f"<dd>{token}</dd>", f"<dd>{done[k]:.4g}</dd>", 1)
    path.write_text(html, encoding="utf-8")
    _add_status(path.parent / "results.json", secs, done)
    return path


def report_options(quick: bool = False, weights: str | Path | None = None, weight_name: str | None = None,
                   unit: str | None = None, direction: str | None = None,
                   layers: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The per-lens ``options`` of :func:`build_report` for ``repscope report``'s flags: ``quick`` (fewer
    permutations and points), the descrambling lens's ``weights`` file (and the key of one layer's weight in
    it), the ranges lens's ``unit`` or ``direction``, and the ``layers`` every lens reads.

    >>> report_options(quick=True, unit="fc2:3")
    {'ranges': {'n_permutations': 199, 'unit': 'fc2:3', 'direction': None}, 'topology': {'n_samples': 300}}
    """
    options: dict[str, dict[str, Any]] = {}
    if quick:
        options = {"ranges": {"n_permutations": 199}, "topology": {"n_samples": 300}}
    if weights is not None or weight_name is not None:
        if weights is None:
            raise InputError("--weight-name needs --weights FILE (a state_dict saved with torch.save)")
        options.setdefault("descrambling", {}).update(weights=str(weights), weight_name=weight_name)
    if unit is not None and direction is not None:
        raise InputError("give at most one of --unit and --direction")
    if unit is not None or direction is not None:
        options.setdefault("ranges", {}).update(unit=unit, direction=direction)
    for key in ("similarity", "ranges", "topology", "dynamics", "descrambling") if layers else ():
        options.setdefault(key, {})["layers"] = layers
    return options


def _add_status(path: Path, secs: list[Any], times: dict[str, float] | None = None) -> None:
    """Record each section's status and reason in ``results.json`` (``meta.section_status``), and the
    times known only once the report is written (``times``)."""
    import json

    data = json.loads(path.read_text())
    data.setdefault("meta", {}).update(times or {})
    data["meta"]["section_status"] = section_status(secs)
    path.write_text(json.dumps(data, indent=2, allow_nan=False))
