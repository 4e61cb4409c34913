"""All-pairs layer similarity matrices, streamed from an activation store or in-memory arrays.

Two execution paths:

* **Linear measures** — every registered measure with a ``from_blocks`` finisher (``linear_cka``,
  ``debiased_cka``, ``procrustes``, ``shape_metric``, ``cca``, ``svcca``, ``pwcca``, ``linear_regression``;
  :func:`repscope.metrics.engine.linear_measures`) depends on the data only through centred second
  moments. One streamed pass over row blocks accumulates, in float64, every needed block
  S_ij = X_iᵀX_j of the stacked centred features with the engine of :mod:`repscope.metrics.engine`
  (shared with the Dask path of :mod:`repscope.scale.linear`: one SYRK per block within a source, one
  GEMM per layer pair per block across sources; block means merged exactly), and the registry's finisher
  turns the p×q blocks into values — no n×n matrix, memory independent of n. ``debiased_cka`` adds a cheap
  second pass for the squared row norms of the centred rows. When the samples are few and the layers wide
  (e.g. 62 images × full-resolution conv maps), the same measures are finished from the sample side
  instead: one centred n×n Gram and thin factor per layer (:mod:`repscope.metrics.gram`), each pair from
  r×r products — ``formulation="auto"`` picks the cheaper route by a flop/memory model, ``"gram"`` /
  ``"covariance"`` force one; the result's ``meta["formulation"]`` says which was used.
* **Other measures** (``rbf_cka``, ``rsa``, ``mutual_knn``, ``ph_*``...) load each layer, run the
  registered ``prepare`` once per layer and ``compare`` per pair through :func:`repscope.parallel.map_items`
  / :func:`~repscope.parallel.map_pairs`.

Threads (deliberate, measured on a 2-core machine where oversubscribed BLAS made the same job 4–8×
slower): the linear path runs in this process with BLAS/torch using all cores — its work is a few large
GEMMs, which BLAS parallelises well, and worker processes would duplicate the accumulators. The
generic path uses ``scheduler`` (any value :func:`repscope.parallel.resolve_scheduler` accepts):
``None``/``"serial"`` runs in-process (all BLAS threads); ``"processes"`` uses one worker per core with
one BLAS thread each (best when per-pair work is small or GIL-bound, e.g. persistent homology); a Dask
``Client``, ``"tcp://host:port"`` or ``"local:N"`` runs the per-layer and per-pair work on a Dask cluster.
Workers × threads never exceed the cores.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from repscope.errors import InputError
from repscope.metrics import registry
from repscope.metrics import uncertainty as unc
from repscope.metrics._result import LayerMatrix
from repscope.metrics.engine import (
    CovarianceAccumulator,
    StackedAccumulator,
    auto_block_rows,
    centred_row_norms,
    check_finite_blocks,
    check_precision,
    finish_gram_matrix,
    finish_matrix,
    needs_row_norms,
)
from repscope.metrics.gram import GramFactor, check_formulation, choose_matrix
from repscope.parallel import all_pairs, map_items, map_pairs, resolve_scheduler
from repscope.validation import as_2d

__all__ = [
    "layer_matrix",
    "layer_matrices",
    "LayerMatrix",
    "StackedAccumulator",
    "CovarianceAccumulator",
]


# --------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------


class _Source:
    """Uniform view of a mapping {layer: array} or a store-like object."""

    def __init__(self, obj: Any, name: str) -> None:
        self.name = name
        if isinstance(obj, Mapping):
            if not obj:
                raise InputError(f"{name} is an empty mapping; pass {{layer name: (n, d) array}}")
            self.arrays: dict[str, np.ndarray] | None = {
                str(k): as_2d(v, f"{name}[{k!r}]", dtype=None) for k, v in obj.items()}
            ns = {k: a.shape[0] for k, a in self.arrays.items()}
            if len(set(ns.values())) != 1:
                raise InputError(
                    f"layers of {name} have different sample counts {ns}; all must describe the same samples"
                )
            self.layers = list(self.arrays)
            self.n = next(iter(ns.values()))
            self.sample_ids = None
            self.store: Any = None  # the store-like object (duck-typed: layers, n_samples, read, ...) otherwise
        elif hasattr(obj, "layers") and hasattr(obj, "read"):
            self.store = obj
            self.arrays = None
            self.layers = [str(x) for x in obj.layers]
            self.n = int(obj.n_samples)
            ids = getattr(obj, "sample_ids", None)
            self.sample_ids = None if ids is None else np.asarray(ids)
        else:
            raise InputError(
                f"{name} is a {type(obj).__name__}; pass an ActivationStore (repscope.open_store(path)) or a "
                f"mapping {{layer name: (n, d) array}}"
            )

    def select(self, layers: Sequence[str] | None) -> list[str]:
        if layers is None:
            return list(self.layers)
        if isinstance(layers, str):
            layers = [s.strip() for s in layers.split(",") if s.strip()]
        missing = [layer for layer in layers if layer not in self.layers]
        if missing:
            raise InputError(f"{self.name} has no layer(s) {missing}; available: {self.layers}")
        if len(layers) == 0:
            raise InputError("layers= is empty; give at least one layer name")
        return list(layers)

    def read(self, layer: str, rows: np.ndarray | slice | None = None, *, check: bool = True) -> np.ndarray:
        if self.arrays is not None:
            a = self.arrays[layer]
            return a if rows is None else a[rows]
        a = np.asarray(self.store.read(layer) if rows is None else self.store.read(layer, rows=rows))
        if not check:
            return a.reshape(a.shape[0], -1)
        return as_2d(a, f"{self.name} layer {layer!r}", dtype=None)

    def dim(self, layer: str) -> int:
        if self.arrays is not None:
            return int(self.arrays[layer].shape[1])
        if hasattr(self.store, "layer_shape"):
            return int(np.prod(self.store.layer_shape(layer)))
        return int(self.read(layer, np.arange(1), check=False).shape[1])

    def blocks(self, layers: list[str], block_rows: int, perm: np.ndarray | None = None) -> Iterator[list]:
        """Yield lists (one 2-D array per layer) of aligned row blocks."""
        if self.arrays is not None or perm is not None or not hasattr(self.store, "iter_rows"):
            for s in range(0, self.n, block_rows):
                idx = slice(s, min(self.n, s + block_rows)) if perm is None else perm[s : s + block_rows]
                if self.arrays is not None:
                    yield [self.arrays[layer][idx] for layer in layers]
                else:
                    rows = np.arange(self.n)[idx] if perm is None else idx
                    blocks = [self.read(layer, rows, check=False) for layer in layers]
                    check_finite_blocks(blocks, [f"{self.name} layer {layer!r}" for layer in layers])
                    yield blocks
            return
        iters = [_reblock(self.store.iter_rows(layer, block_rows), block_rows) for layer in layers]
        start = 0
        for parts in zip(*iters):
            end = start + parts[0].shape[0] - 1
            check_finite_blocks(parts, [f"{self.name} layer {layer!r}" for layer in layers], f" in rows {start}..{end}")
            start = end + 1
            yield list(parts)


def _reblock(it: Iterator[tuple[int, np.ndarray]], block_rows: int) -> Iterator[np.ndarray]:
    """Re-cut a store's (start, block) stream (blocks follow each layer's chunking) into exact
    ``block_rows``-row 2-D blocks, so that layers with different chunk sizes stay aligned."""
    buf: list[np.ndarray] = []
    have = 0
    for _, a in it:
        a = np.asarray(a)
        buf.append(a.reshape(a.shape[0], -1))
        have += a.shape[0]
        while have >= block_rows:
            cat = buf[0] if len(buf) == 1 else np.concatenate(buf)
            yield cat[:block_rows]
            rest = cat[block_rows:]
            buf, have = ([rest] if rest.shape[0] else []), rest.shape[0]
    if have:
        yield buf[0] if len(buf) == 1 else np.concatenate(buf)


def _match(a: _Source, b: _Source) -> np.ndarray | None:
    """Row permutation of b that aligns it with a (None when already aligned)."""
    if a.n != b.n:
        raise InputError(
            f"{a.name} has {a.n} samples and {b.name} has {b.n}; cross-source matrices need the same samples"
        )
    if a.sample_ids is None or b.sample_ids is None:
        return None
    ia, ib = a.sample_ids.ravel(), b.sample_ids.ravel()
    if np.array_equal(ia, ib):
        return None
    if len(np.unique(ib)) != ib.size or len(np.unique(ia)) != ia.size:
        raise InputError("sample ids are not unique in one of the stores; cannot match samples")
    sa, sb = set(ia.tolist()), set(ib.tolist())
    if sa != sb:
        raise InputError(
            f"the two stores hold different samples ({len(sa - sb)} ids only in {a.name}, {len(sb - sa)} "
            f"only in {b.name}); capture both on the same inputs, or compare arrays of the common samples"
        )
    pos = {v: i for i, v in enumerate(ib.tolist())}
    return np.fromiter((pos[v] for v in ia.tolist()), dtype=np.int64, count=ia.size)


# --------------------------------------------------------------------------------------------------
# Streamed second moments (the engine: repscope.metrics.engine)
# --------------------------------------------------------------------------------------------------

#: Largest stacked D×D accumulator (bytes) before falling back to per-pair blocks.
_STACKED_MAX_BYTES = 768 << 20


def _progress(enabled: bool, total: int, desc: str):
    from repscope.parallel import progress_bar

    return progress_bar(enabled), total, desc


def _stream(sources, layer_lists, pairs, block_rows, device, perm_b, progress, want_q=False, precision="float64",
            acc=None):
    """One pass over aligned blocks of one or two sources; returns (accumulator, q-vectors or None).
    ``acc``: an accumulator to feed instead of the default one (e.g. the bootstrap's grouped moments)."""
    n = sources[0].n
    all_layers = [(0, layer) for layer in layer_lists[0]]
    if len(sources) == 2:
        all_layers += [(1, layer) for layer in layer_lists[1]]
    dims = [src.dim(layer) for src, lst in zip(sources, layer_lists) for layer in lst]
    stacked = device is None and len(sources) == 1 and sum(dims) ** 2 * 8 <= _STACKED_MAX_BYTES
    if acc is not None:
        pass
    elif stacked:  # one in-place SYRK per block (same flops as the hand-stacked baseline)
        acc = StackedAccumulator(dims, block_rows, precision=precision)
    else:  # cross-source, GPU, or very wide stacks: one GEMM per needed pair, exact Chan merge
        acc = CovarianceAccumulator(len(all_layers), pairs, device=device, precision=precision)
    gens = [sources[0].blocks(layer_lists[0], block_rows)]
    if len(sources) == 2:
        gens.append(sources[1].blocks(layer_lists[1], block_rows, perm_b))
    prog, total, desc = _progress(progress, -(-n // block_rows), "layer matrix: streaming blocks")
    with prog:
        tid = prog.add_task(desc, total=total)
        for parts in zip(*gens):
            blocks = [b for part in parts for b in part]
            if len({b.shape[0] for b in blocks}) != 1:
                raise InputError(
                    "the sources yielded row blocks of different sizes; they must hold the same samples"
                )
            acc.update(blocks)
            prog.advance(tid)
    if acc.n != n:
        raise InputError(
            f"streamed {acc.n} rows but the source reports {n} samples; the store may be incomplete"
        )
    q = None
    if want_q:  # second pass: squared norms of the centred rows (debiased CKA)
        mus = acc.means()
        q = [np.empty(n) for _ in all_layers]
        gens = [sources[0].blocks(layer_lists[0], block_rows)]
        if len(sources) == 2:
            gens.append(sources[1].blocks(layer_lists[1], block_rows, perm_b))
        s = 0
        for parts in zip(*gens):
            blocks = [b for part in parts for b in part]
            nb = blocks[0].shape[0]
            for k, qk in enumerate(centred_row_norms(blocks, mus)):
                q[k][s : s + nb] = qk
            s += nb
    return acc, q


# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------


def layer_matrix(
    source_a: Any,
    source_b: Any = None,
    metric: str = "linear_cka",
    layers: Sequence[str] | str | None = None,
    **kwargs: Any,
) -> LayerMatrix:
    """Measure ``metric`` between every pair of layers, within ``source_a`` or between two sources.

    Parameters
    ----------
    source_a, source_b:
        An ``ActivationStore`` (``repscope.open_store``) or a mapping ``{layer name: (n, ...) array}``.
        With ``source_b`` the matrix is source_a layers × source_b layers; stores are matched by
        ``sample_ids`` (reordered when the same ids come in a different order; an error when they differ).
    metric:
        A registered name (``repscope.metrics.available()``); extra keyword arguments go to the measure
        (e.g. ``alpha=0.5`` for ``shape_metric``, ``compare="kendall_tau_a"`` for ``rsa``).
    layers:
        Layer names (list or comma-separated string) to use from each source; default all.
    scheduler, n_workers:
        Generic (non-linear) measures only: ``None``/``"serial"``, ``"processes"``, or a Dask client /
        address / ``"local:N"`` (see module doc and :func:`repscope.parallel.resolve_scheduler`);
        ``n_workers`` processes for ``"processes"`` (``None`` = one per core; ``1`` = serial). Local
        parallel runs fall back to serial when workers cannot pay for themselves
        (:mod:`repscope.parallel.autosched`).
    block_rows:
        Rows per streamed block for the linear path (default: ~64 MiB of float64 per block).
    device:
        ``None``/``"cpu"`` numpy+BLAS; ``"cuda"``/``"auto"`` accumulate with torch on that device.
    progress:
        Show progress bars (the streamed pass, the per-layer and per-pair work).
    precision:
        ``"float64"`` (default) or, for ``linear_cka`` only, ``"float32"``: block products in float32
        (twice the BLAS rate), summed in float64; values within 10⁻⁶ relative of float64 (see
        :class:`repscope.metrics.engine.StackedAccumulator`).
    n_boot, ci, n_perm, seed, boot_memory:
        Uncertainty (:mod:`repscope.metrics.uncertainty`): ``n_boot`` bootstrap resamples over samples give
        ``ci``-coverage percentile intervals per entry (``ci_low_``, ``ci_high_``; linear measures in the
        same single pass, from resampled weights on group moments held in ≤ ``boot_memory`` bytes);
        ``n_perm`` permutations of the samples of the column layers give p-values against unrelated
        representations (``p_values_``). ``seed`` seeds every random step. The result is then a
        :class:`~repscope.metrics.uncertainty.LayerMatrixCI`; compare two entries with
        :func:`~repscope.metrics.uncertainty.compare_entries`.
    tokens:
        How a store's sequence layers ``(T, D)`` enter: ``"mean"`` (default) — each sample's mean over its real
        tokens / steps (the first ``n_tokens``; without them over all ``T``, with a warning when the inputs were
        tokens: :func:`repscope.lenses.protocol.as_vectors`), as the similarity lens and ``repscope compare``
        read them; ``"flatten"`` — all ``T·D`` values, padding positions included (warned when padded).
        The result's ``extra["tokens"]`` says which. Mappings are used as given.
    formulation:
        Linear measures only: ``"auto"`` (default) finishes from d×d covariance blocks (streamed, memory
        independent of n) or, when cheaper — few samples, wide layers — from one centred n×n Gram and thin
        factor per layer (:mod:`repscope.metrics.gram`: flops n·D² + Σd³ + pairs·d̄³ against
        n²·D + (layers + pairs)·4n³, D = Σd, and the Grams within 1 GiB); ``"gram"`` / ``"covariance"``
        force one. Values agree to 1e-10 (tested). The gram route runs in process with numpy (``device`` and
        ``precision="float32"`` make ``"auto"`` keep the covariance route); measures registered without a
        ``from_grams`` finisher always take the covariance route. ``result.meta["formulation"]`` records it.

    Returns a :class:`LayerMatrix`; ``values[i, j]`` = metric(rows[i], cols[j]). Several measures over
    one streamed pass: :func:`layer_matrices`.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import layer_matrix
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(30, 6))
    >>> acts = {"a": a, "a_scaled": 2 * a, "noise": rng.normal(size=(30, 6))}
    >>> m = layer_matrix(acts, metric="linear_cka")
    >>> m.rows
    ['a', 'a_scaled', 'noise']
    >>> m.values.round(2)[0, :2].tolist()
    [1.0, 1.0]
    """
    shared = {k: kwargs.pop(k) for k in _SHARED_KEYWORDS if k in kwargs}
    return layer_matrices(source_a, source_b, [metric], layers, **shared, options={metric: kwargs})[0]


def layer_matrices(
    source_a: Any,
    source_b: Any = None,
    metrics: Sequence[str] | str = ("linear_cka", "procrustes"),
    layers: Sequence[str] | str | None = None,
    *,
    scheduler: Any = None,
    n_workers: int | None = None,
    block_rows: int | None = None,
    device: Any = None,
    progress: bool = False,
    precision: str = "float64",
    n_boot: int = 0,
    ci: float = 0.95,
    n_perm: int = 0,
    seed: int | None = 0,
    boot_memory: int = 1 << 30,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    tokens: str = "mean",
    formulation: str = "auto",
) -> list[LayerMatrix]:
    """Several measures at once (same arguments as :func:`layer_matrix`); all linear measures share one
    streamed pass over the data. ``options`` maps a metric name to its keyword arguments.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.metrics import layer_matrices
    >>> rng = np.random.default_rng(0)
    >>> acts = {"l1": rng.normal(size=(30, 4)), "l2": rng.normal(size=(30, 4))}
    >>> [m.metric for m in layer_matrices(acts, metrics=["linear_cka", "procrustes"])]
    ['linear_cka', 'procrustes']
    """
    from repscope.lenses.protocol import as_vectors

    (source_a, note_a), (source_b, note_b) = as_vectors(source_a, tokens), as_vectors(source_b, tokens)
    job = _resolve(source_a, source_b, metrics, layers, options, scheduler, precision, n_boot, ci, n_perm, seed)
    job.token_note = " / ".join(n for n in (note_a, note_b) if n)
    linear = [m for m in job.metrics if job.measures[m].from_blocks is not None]
    form = _formulation(formulation, [job.measures[m] for m in linear], job.A.n, job.dims, len(job.la),
                        None if job.B is None else len(job.lb), device, precision)
    gram = [m for m in linear if form == "gram" and job.measures[m].from_grams is not None]
    results = _gram_route(job, gram, progress)
    boots = _covariance_route(job, [m for m in linear if m not in gram], results, block_rows, device, progress,
                              precision, n_boot, boot_memory)
    _generic_route(job, results, device, progress, n_workers)
    if not (n_boot or n_perm):
        return [results[m] for m in job.metrics]
    rng_boot = np.random.default_rng(job.seeds[1])
    return [_with_uncertainty(job, results[m], boots.get(m), "gram" if m in gram else "covariance", block_rows,
                              device, n_boot, ci, n_perm, seed, rng_boot) for m in job.metrics]


#: The keywords :func:`layer_matrix` forwards to :func:`layer_matrices`; any other keyword is the measure's.
_SHARED_KEYWORDS = tuple(p for p in inspect.signature(layer_matrices).parameters
                         if p not in ("source_a", "source_b", "metrics", "layers", "options"))


def _layer_matrix_signature() -> inspect.Signature:
    """:func:`layer_matrix`'s documented signature: :func:`layer_matrices`' with ``metric`` for ``metrics``,
    no ``options``, and ``**kw`` for the measure — so ``help()``, IDEs and the API reference show every
    keyword while the code declares them once."""
    params = []
    for p in inspect.signature(layer_matrices).parameters.values():
        if p.name == "metrics":
            p = p.replace(name="metric", default="linear_cka", annotation="str")
        if p.name != "options":
            params.append(p)
    params.append(inspect.Parameter("kw", inspect.Parameter.VAR_KEYWORD, annotation="Any"))
    return inspect.Signature(params, return_annotation="LayerMatrix")


layer_matrix.__signature__ = _layer_matrix_signature()  # type: ignore[attr-defined]


@dataclasses.dataclass
class _Job:
    """What a :func:`layer_matrices` call works on, resolved and validated once."""

    A: _Source
    B: _Source | None
    la: list[str]
    lb: list[str]
    perm: np.ndarray | None  # source_b's rows in source_a's sample order (None: same order or no source_b)
    metrics: list[str]
    measures: dict[str, Any]
    options: dict[str, Mapping[str, Any]]
    scheduler: Any
    seeds: list[np.random.SeedSequence]  # groups, bootstrap weights, permutations
    dims: list[int]
    token_note: str = ""  # how sequence layers entered (tokens=), when any did

    def kw(self, m: str) -> dict[str, Any]:
        return dict(self.options.get(m, {}))

    def package(self, m: str, vals: np.ndarray, seconds: float, form: str | None = None) -> LayerMatrix:
        """The :class:`LayerMatrix` of measure ``m`` with values ``vals``."""
        kw, measure = self.kw(m), self.measures[m]
        return LayerMatrix(values=vals, rows=list(self.la), cols=list(self.lb), metric=m, kind=measure.kind,
                           value_range=measure.range_for(kw),
                           n_samples=self.A.n, description=measure.description, params=kw, seconds=seconds,
                           extra={**({} if form is None else {"formulation": form}),
                                  **({"tokens": self.token_note} if self.token_note else {})})


def _resolve(source_a, source_b, metrics, layers, options, scheduler, precision, n_boot, ci, n_perm, seed) -> _Job:
    """Step 1: the measures, sources, layers and row matching; every argument checked before any work."""
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if not metrics:
        raise InputError("no metric given; choose from repscope.metrics.available()")
    options = dict(options or {})
    unknown_opts = set(options) - set(metrics)
    if unknown_opts:
        raise InputError(
            f"options given for {sorted(unknown_opts)}, which are not among metrics={list(metrics)}"
        )
    measures = {m: registry.get(m) for m in metrics}
    A = _Source(source_a, "source_a")
    la = A.select(layers)
    B = None if source_b is None else _Source(source_b, "source_b")
    lb = la if B is None else B.select(layers)
    perm = None if B is None else _match(A, B)
    scheduler = resolve_scheduler(scheduler)  # validates; None → use_scheduler()/env default → serial
    linear = [m for m in metrics if measures[m].from_blocks is not None]
    if check_precision(precision) == "float32" and linear != ["linear_cka"]:
        raise InputError(
            f"precision='float32' is offered for linear_cka alone (got metrics={list(metrics)}); its float32 "
            f"rounding would be amplified by the other measures — compute them with the default float64"
        )
    unc.check_uncertainty_args(n_boot, ci, n_perm)
    dims = [A.dim(layer) for layer in la] + ([] if B is None else [B.dim(layer) for layer in lb])
    return _Job(A, B, la, lb, perm, list(metrics), measures, options, scheduler,
                np.random.SeedSequence(seed).spawn(3), dims)


def _gram_route(job: _Job, gram: list[str], progress: bool) -> dict[str, LayerMatrix]:
    """Step 2a: linear measures finished from one centred n×n Gram (and thin factor) per layer."""
    results: dict[str, LayerMatrix] = {}
    if not gram:
        return results
    t0 = time.perf_counter()
    factors = _gram_factors(job.A, job.B, job.la, job.lb, job.perm, [job.measures[m] for m in gram], progress)
    t_read = (time.perf_counter() - t0) / len(gram)
    for m in gram:
        t1 = time.perf_counter()
        vals = _gram_finish(job.measures[m], factors, len(job.la), len(job.lb), job.B is None, job.kw(m))
        results[m] = job.package(m, vals, t_read + time.perf_counter() - t1, "gram")
    return results


def _covariance_route(job: _Job, linear: list[str], results: dict[str, LayerMatrix], block_rows, device, progress,
                      precision, n_boot, boot_memory) -> dict[str, np.ndarray]:
    """Step 2b: the other linear measures — accumulate covariance blocks in one streamed pass (with the group
    moments the bootstrap needs, when asked), finish every measure from them; adds to ``results`` and returns
    the bootstrap replicates {measure: (n_boot, rows, cols)}."""
    if not linear:
        return {}
    from repscope.metrics._common import eig_cache

    A, B, la, lb = job.A, job.B, job.la, job.lb
    t0 = time.perf_counter()
    # bootstrap of linear measures: group moments in the same single pass (not for row-norm measures)
    boot_lin = [m for m in linear if n_boot]
    grouped = None
    if boot_lin:
        grouped = unc.GroupedMoments(job.dims, A.n, unc.n_groups_for(A.n, sum(job.dims), boot_memory), job.seeds[0])
    acc, q, col_off = _linear_stream(
        A, B, la, lb, job.perm, block_rows, device, progress,
        want_q=any(needs_row_norms(job.measures[m]) for m in linear), precision=precision, acc=grouped,
    )
    t_stream = (time.perf_counter() - t0) / len(linear)
    with eig_cache():  # one eigen-decomposition per layer, shared by all linear measures
        for m in linear:
            t1 = time.perf_counter()
            vals = _linear_finish(job.measures[m], acc, q, len(la), len(lb), col_off, B is None, job.kw(m))
            results[m] = job.package(m, vals, t_stream + time.perf_counter() - t1, "covariance")
    if grouped is None:
        return {}
    reps: dict[str, list[np.ndarray]] = {m: [] for m in boot_lin}
    for rep in grouped.replicates(n_boot, job.seeds[1]):
        with eig_cache():  # a fresh cache per replicate (its blocks are new arrays)
            for m in boot_lin:
                reps[m].append(_linear_finish(job.measures[m], rep, rep.q, len(la), len(lb), col_off,
                                              B is None, job.kw(m)))
    return {m: np.stack(v) for m, v in reps.items()}


def _generic_route(job: _Job, results: dict[str, LayerMatrix], device, progress, n_workers) -> None:
    """Step 2c: every measure not finished yet — ``prepare`` per layer, ``compare`` per pair, on the scheduler."""
    for m in job.metrics:
        if m in results:
            continue
        t1 = time.perf_counter()
        vals = _generic_matrix(job.measures[m], job.A, job.B, job.la, job.lb, job.perm, job.scheduler, device,
                               progress, job.kw(m), n_workers)
        results[m] = job.package(m, vals, time.perf_counter() - t1)


def _with_uncertainty(job: _Job, r: LayerMatrix, boots: np.ndarray | None, form: str, block_rows, device,
                      n_boot, ci, n_perm, seed, rng_boot: np.random.Generator) -> LayerMatrix:
    """Step 3: ``r`` with bootstrap intervals (replicates from the single pass, else rows resampled with
    ``rng_boot`` — one generator for all measures, in order — through the measure's own path) and permutation
    p-values, as a :class:`~repscope.metrics.uncertainty.LayerMatrixCI`."""
    m = r.metric
    measure, kw = job.measures[m], job.kw(m)
    t1 = time.perf_counter()
    base = {f.name: getattr(r, f.name) for f in dataclasses.fields(LayerMatrix)}
    extra: dict[str, Any] = {"n_boot": int(n_boot), "n_perm": int(n_perm), "seed": seed}
    if n_boot:
        if boots is None:  # resample rows, recompute through the runner
            rows = [rng_boot.integers(job.A.n, size=job.A.n) for _ in range(n_boot)]
            boots = _resampled_matrices(measure, job.A, job.B, job.la, job.lb, job.perm, job.scheduler, device,
                                        kw, rows, form)
        extra["boot_"] = boots
        base["ci_low"], base["ci_high"] = unc.interval(boots, ci)
        base["ci_level"] = float(ci)
    if n_perm:
        null = _permuted_matrices(measure, job.A, job.B, job.la, job.lb, job.perm, block_rows, job.scheduler,
                                  device, kw, n_perm, job.seeds[2], form)
        base["extra"] = {**base["extra"], "p_values": unc.permutation_p(r.values, null, measure.kind),
                         "null_mean": null.mean(axis=0)}
    base["seconds"] = (r.seconds or 0.0) + time.perf_counter() - t1
    return unc.LayerMatrixCI(**base, **extra)


def _resampled_matrices(measure, A, B, la, lb, perm, scheduler, device, kw, row_sets, form="covariance"
                        ) -> np.ndarray:
    """The matrix of a measure on each resample of rows (bootstrap through the generic runner)."""
    arrays_a = {layer: A.read(layer) for layer in la}
    arrays_b = None if B is None else {layer: B.read(layer, perm) for layer in lb}
    out = []
    for rows in row_sets:
        As = _Source({k: v[rows] for k, v in arrays_a.items()}, "source_a")
        Bs = None if arrays_b is None else _Source({k: v[rows] for k, v in arrays_b.items()}, "source_b")
        out.append(_matrix_any(measure, As, Bs, la, lb, None, None, scheduler, device, kw, form))
    return np.stack(out)


def _matrix_any(measure, A, B, la, lb, perm, block_rows, scheduler, device, kw, form="covariance") -> np.ndarray:
    """The full matrix (no identity or symmetry shortcut when B is given) by the measure's own path."""
    if measure.from_blocks is None:
        return _generic_matrix(measure, A, B, la, lb, perm, scheduler, device, False, kw)
    if form == "gram" and measure.from_grams is not None:
        factors = _gram_factors(A, B, la, lb, perm, [measure], False)
        return _gram_finish(measure, factors, len(la), len(lb), B is None, kw)
    acc, q, col_off = _linear_stream(A, B, la, lb, perm, block_rows, device, False, want_q=needs_row_norms(measure))
    from repscope.metrics._common import eig_cache

    with eig_cache():
        return _linear_finish(measure, acc, q, len(la), len(lb), col_off, B is None, kw)


def _permuted_matrices(measure, A, B, la, lb, perm, block_rows, scheduler, device, kw, n_perm, seed,
                       form="covariance") -> np.ndarray:
    """Null matrices: the column layers' samples permuted (streamed for linear measures: the column
    source is read in permuted row order)."""
    rng = np.random.default_rng(seed)
    cols = A if B is None else B
    out = []
    for _ in range(n_perm):
        pi = rng.permutation(A.n)
        rows = pi if perm is None else perm[pi]
        out.append(_matrix_any(measure, A, cols, la, lb, rows, block_rows, scheduler, device, kw, form))
    return np.stack(out)


#: Measures whose sample-side finisher needs only the Gram (no thin factor).
_GRAM_ONLY = ("linear_cka", "debiased_cka")


def _formulation(formulation, linear, n, dims, n_rows, n_cols, device, precision) -> str:
    """The route for the linear measures: forced, or the cheaper by :func:`repscope.metrics.gram.choose_matrix`
    (the covariance route when a device or float32 accumulation is asked for, or no measure has a gram
    finisher)."""
    check_formulation(formulation)
    if formulation != "auto":
        return formulation
    if not linear or device is not None or precision != "float64" or all(m.from_grams is None for m in linear):
        return "covariance"
    n_pairs = n_rows * (n_rows - 1) // 2 if n_cols is None else n_rows * n_cols
    return choose_matrix(n, dims, n_pairs)


def _gram_factors(A, B, la, lb, perm, measures, progress) -> list[GramFactor]:
    """One :class:`GramFactor` per layer (source_a's, then source_b's), each layer read and centred once; the
    thin factor only when a measure needs more than the Gram; PWCCA's weights re-read the layer on demand."""
    from repscope.metrics._common import centre

    spectrum = any(m.name not in _GRAM_ONLY for m in measures)
    todo = [(A, layer, None) for layer in la] + ([] if B is None else [(B, layer, perm) for layer in lb])

    def load(src, layer, rows):
        return centre(np.asarray(src.read(layer, rows), dtype=np.float64))

    out = []
    prog, total, desc = _progress(progress, len(todo), "layer matrix: Gram per layer")
    with prog:
        tid = prog.add_task(desc, total=total)
        for src, layer, rows in todo:
            Xc = load(src, layer, rows)
            if not np.any(Xc):
                raise InputError(
                    f"{src.name} layer {layer!r} is constant across samples; similarity is undefined for it — "
                    f"drop the layer"
                )
            out.append(GramFactor(Xc, data=functools.partial(load, src, layer, rows), spectrum=spectrum))
            prog.advance(tid)
    return out


def _gram_finish(measure, factors, n_rows, n_cols, within, kw) -> np.ndarray:
    col_off = 0 if within else n_rows
    return finish_gram_matrix(measure, factors.__getitem__, rows=list(range(n_rows)),
                              cols=[j + col_off for j in range(n_cols)], within=within, kw=kw)


def _linear_stream(A, B, la, lb, perm, block_rows, device, progress, want_q, precision="float64", acc=None):
    la_n = len(la)
    if B is None:
        pairs = all_pairs(la_n, symmetric=True, diagonal=True)
        col_off, sources, layer_lists = 0, [A], [la]
    else:
        pairs = [(i, la_n + j) for i in range(la_n) for j in range(len(lb))]
        col_off, sources, layer_lists = la_n, [A, B], [la, lb]
    if block_rows is None:
        dims = [A.dim(layer) for layer in la] + ([] if B is None else [B.dim(layer) for layer in lb])
        block_rows = auto_block_rows(dims, A.n)
    if int(block_rows) < 1:
        raise InputError(f"block_rows={block_rows}; give a positive number of rows per block")
    acc, q = _stream(sources, layer_lists, pairs, int(block_rows), device, perm, progress, want_q=want_q,
                     precision=precision, acc=acc)
    return acc, q, col_off


def _linear_finish(measure, acc, q, n_rows, n_cols, col_off, within, kw) -> np.ndarray:
    return finish_matrix(measure, acc.block, n=acc.n, rows=list(range(n_rows)),
                         cols=[j + col_off for j in range(n_cols)], within=within, kw=kw, q=q)


def _generic_matrix(measure, A, B, la, lb, perm, scheduler, device, progress, kw, n_workers=None) -> np.ndarray:
    n_workers = 1 if scheduler == "serial" else n_workers
    if device is not None:
        kw = {**kw, "device": device}
    arrays = [A.read(layer) for layer in la]
    if B is not None:
        arrays += [B.read(layer, perm) for layer in lb]
    if measure.prepare is not None:
        prep = functools.partial(measure.prepare, **kw) if kw else measure.prepare
        items = map_items(
            prep, arrays, n_workers=n_workers, progress=progress, desc=f"{measure.name}: prepare",
            scheduler=scheduler,
        )
        func = measure.compare
    else:
        items = arrays
        func = functools.partial(measure.func, **kw) if kw else measure.func
    la_n = len(la)
    if B is None:
        symmetric = measure.symmetric_for(kw)
        pairs = (
            all_pairs(la_n, symmetric=symmetric, diagonal=True)
            if symmetric
            else [(i, j) for i in range(la_n) for j in range(la_n)]
        )
        col_off = 0
    else:
        symmetric = False
        pairs = [(i, la_n + j) for i in range(la_n) for j in range(len(lb))]
        col_off = la_n
    vals = map_pairs(
        func, items, pairs, n_workers=n_workers, progress=progress, desc=f"{measure.name}: pairs",
        scheduler=scheduler,
    )
    out = np.full((la_n, len(lb)), np.nan)
    for (i, j), v in zip(pairs, vals):
        out[i, j - col_off] = v
        if symmetric:
            out[j, i] = v
    return out
