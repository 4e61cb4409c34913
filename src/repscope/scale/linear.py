"""Out-of-core linear statistics: centred stacked cross products accumulated over zarr row chunks.

Every linear similarity measure (linear CKA, Procrustes, CCA family, linear regression) depends on the
data only through the centred second-moment blocks S_ij = Σ_rows (x_i − μ_i)(x_j − μ_j)ᵀ of the stacked
layer features (:mod:`repscope.metrics.engine`). :func:`streamed_cross_products` computes them with ``dask.array``
over the row chunks of the activation store, in **one read pass**: each row block yields its count, its
means and its own centred products, and blocks are merged exactly in a tree (Chan, Golub & LeVeque
1979: S ← S_a + S_b + n_a n_b/(n_a + n_b) · δ_i δ_jᵀ with δ = μ_b − μ_a). No n×n matrix is formed,
memory is a few row blocks plus the p×q blocks, whatever n is, and the result equals the in-memory
float64 computation (:meth:`CrossProducts.from_arrays`) to rounding (tested to 1e-10 relative).

Where the work runs (``scheduler``): ``None``/``"threads"`` — Dask's threaded scheduler, one thread per
core, each with one BLAS thread (workers × BLAS threads ≤ cores; measured: pinning BLAS to one thread
made this as fast as in-memory numpy); ``"serial"`` — one block at a time with all BLAS threads;
``"processes"`` — Dask's multiprocessing scheduler (one BLAS thread per process); ``"local:N"``,
``"tcp://host:port"``, ``"dask"`` or a ``Client`` — a Dask cluster (its workers must see the store's
path: on several machines put the store on a shared file system).

Few samples × wide layers: the in-process :func:`repscope.metrics.layer_matrix` may finish the same
measures from n×n Grams instead (``formulation="auto"``, :mod:`repscope.metrics.gram`); this Dask path
always uses the covariance formulation (its point is n too large for memory, where the d×d blocks are the
cheap side) — use the in-process function when n is small and the layers are wide.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from repscope.errors import InputError

if TYPE_CHECKING:
    from dask.diagnostics import ProgressBar

__all__ = ["CrossProducts", "streamed_cross_products", "streamed_layer_matrix"]


_FAN_IN = 8


# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------


@dataclass
class CrossProducts:
    """Centred cross products of stacked layers: ``S[(i, j)]`` = X̃_iᵀ X̃_j (float64), for i ≤ j.

    Layers are indexed globally: source A's layers first (``layers_a``), then source B's (``layers_b``).
    ``means[i]`` is layer i's feature mean, ``n`` the number of rows. ``pairs`` lists the blocks held.
    """

    n: int
    layers_a: list[str]
    layers_b: list[str] | None
    dims: list[int]
    means: list[np.ndarray]
    S: dict[tuple[int, int], np.ndarray] = field(repr=False)
    seconds: float | None = None
    #: Squared norms of the centred rows per layer (debiased CKA), when accumulated.
    q: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return sorted(self.S)

    def index(self, layer: str | int, source: str = "a") -> int:
        """Global index of ``layer`` in source ``"a"`` or ``"b"`` (an int is returned unchanged)."""
        if isinstance(layer, int | np.integer):
            return int(layer)
        names = self.layers_a if source == "a" else self.layers_b
        if names is None or layer not in names:
            raise InputError(f"layer {layer!r} is not among source {source!r} layers {names}")
        return names.index(layer) + (0 if source == "a" else len(self.layers_a))

    def block(self, i: int, j: int) -> np.ndarray:
        """S_ij (p_i × p_j); S_ji is returned as the transpose of the stored S_ij."""
        if (i, j) in self.S:
            return self.S[i, j]
        if (j, i) in self.S:
            return self.S[j, i].T
        raise InputError(f"block ({i}, {j}) was not accumulated; pass pairs='all' to streamed_cross_products")

    def value(self, metric: str, i: int | str, j: int | str, **kw: Any) -> float:
        """Finish ``metric`` for layers i, j (global indices, or names: i from source A, j from B if any),
        with the measure's registered finisher (:func:`repscope.metrics.engine.finish_pair`)."""
        from repscope.metrics.engine import finish_pair

        gi = self.index(i, "a")
        gj = self.index(j, "b" if (self.layers_b is not None and isinstance(j, str)) else "a")
        qx, qy = (None, None) if self.q is None else (self.q[gi], self.q[gj])
        return finish_pair(metric, self.block(gi, gi), self.block(gj, gj), self.block(gi, gj), n=self.n,
                           qx=qx, qy=qy, **kw)

    def linear_cka(self, i: int | str, j: int | str) -> float:
        """‖S_xy‖²_F / (‖S_xx‖_F ‖S_yy‖_F) (Kornblith et al. 2019, feature-space form)."""
        return self.value("linear_cka", i, j)

    def procrustes(self, i: int | str, j: int | str) -> float:
        """θ = arccos(‖S_xy‖_* / √(tr S_xx tr S_yy)) (Williams et al. 2021), radians."""
        return self.value("procrustes", i, j)

    def matrix(self, metric: str = "linear_cka", **kw: Any) -> Any:
        """All-pairs :class:`repscope.metrics.LayerMatrix` (A × A, or A × B when a second source was given)."""
        from repscope.metrics import LayerMatrix, registry
        from repscope.metrics.engine import finish_matrix

        t0 = time.perf_counter()
        la = self.layers_a
        lb = la if self.layers_b is None else self.layers_b
        off = 0 if self.layers_b is None else len(la)
        out = finish_matrix(metric, self.block, n=self.n, rows=list(range(len(la))),
                            cols=[j + off for j in range(len(lb))], within=self.layers_b is None, kw=kw, q=self.q)
        m = registry.get(metric)
        return LayerMatrix(
            values=out, rows=list(la), cols=list(lb), metric=metric, kind=m.kind, value_range=m.range_for(kw),
            n_samples=self.n,
            description=m.description, params={**kw, "streamed": "dask"}, extra={"formulation": "covariance"},
            seconds=(self.seconds or 0.0) + time.perf_counter() - t0,
        )

    @classmethod
    def from_arrays(
        cls,
        arrays_a: Mapping[str, Any],
        arrays_b: Mapping[str, Any] | None = None,
        *,
        pairs: str = "all",
    ) -> CrossProducts:
        """In-memory reference: load every layer, centre in float64, one GEMM per block (O(n·D) memory)."""
        t0 = time.perf_counter()
        la = list(arrays_a)
        mats = [_as_rows(arrays_a[k], k) for k in la]
        lb: list[str] | None = None
        if arrays_b is not None:
            lb = list(arrays_b)
            mats += [_as_rows(arrays_b[k], k) for k in lb]
        if len({m.shape[0] for m in mats}) != 1:
            raise InputError("layers have different numbers of rows; they must describe the same samples")
        means = [m.mean(axis=0) for m in mats]
        cen = [m - mu for m, mu in zip(mats, means)]
        S = {(i, j): cen[i].T @ cen[j] for i, j in _pairs(len(la), None if lb is None else len(lb), pairs)}
        return cls(n=mats[0].shape[0], layers_a=la, layers_b=lb, dims=[m.shape[1] for m in mats], means=means,
                   S=S, seconds=time.perf_counter() - t0)


def _as_rows(a: Any, name: str) -> np.ndarray:
    from repscope.validation import as_2d

    return as_2d(a, f"layer {name!r}", min_samples=2, dtype=np.float64)


def _pairs(na: int, nb: int | None, which: str) -> list[tuple[int, int]]:
    if which not in ("all", "cross"):
        raise InputError(f"pairs={which!r}; use 'all' (every block) or 'cross' (self blocks + A×B blocks)")
    total = na + (nb or 0)
    if which == "all" or nb is None:
        return [(i, j) for i in range(total) for j in range(i, total)]
    return [(i, i) for i in range(total)] + [(i, na + j) for i in range(na) for j in range(nb)]


# --------------------------------------------------------------------------------------------------
# Block statistics (run in Dask tasks)
# --------------------------------------------------------------------------------------------------


def _block_stats(blocks: list[np.ndarray], pairs: list[tuple[int, int]]) -> tuple:
    """(n_b, means, {pair: centred product}) of one row block (:func:`repscope.metrics.engine.block_moments`)."""
    from repscope.metrics.engine import block_moments, check_finite_blocks

    xs = [np.asarray(b, dtype=np.float64).reshape(b.shape[0], -1) for b in blocks]
    if len({x.shape[0] for x in xs}) != 1:
        raise InputError("row blocks of different layers have different lengths; the sources are misaligned")
    check_finite_blocks(xs, [f"layer #{k}" for k in range(len(xs))], " in a row block")
    return block_moments(xs, pairs)


def _merge(*parts: tuple) -> tuple:
    """Exact merge of block statistics (:func:`repscope.metrics.engine.merge_moments`); Dask task inputs
    are never modified (the first part is copied)."""
    from repscope.metrics.engine import merge_moments

    n, means, S = parts[0]
    return merge_moments((n, list(means), {k: v.copy() for k, v in S.items()}), *parts[1:])


def _pin_one_thread() -> None:  # pragma: no cover - runs in dask's worker processes
    from repscope.parallel.threads import pin_threads

    pin_threads(1)


# --------------------------------------------------------------------------------------------------
# Sources → dask arrays
# --------------------------------------------------------------------------------------------------


def _open(source: Any, name: str) -> Any:
    if isinstance(source, str | os.PathLike):
        from repscope.store import open_store

        return open_store(source)
    return source


def _refuse_padded_sequences(store: Any, names: list[str], name: str) -> None:
    """The streamed job reads a sequence layer ``(T, D)`` as all ``T·D`` stored values: with padded samples that
    would count padding as data, so such layers are refused with the call that reads real tokens."""
    from repscope.lenses.protocol import layer_kind, may_be_padded, valid_lengths

    seqs = [k for k in names if layer_kind(store, k) == "sequence"]
    if not seqs:
        return
    lengths = valid_lengths(store)
    T = min(int(store.layer_shape(k)[0]) for k in seqs)
    padded = bool(lengths.min() < T) if lengths is not None and lengths.size else may_be_padded(store)
    if padded:
        raise InputError(
            f"{name} layer(s) {', '.join(seqs)} hold padded token sequences; the streamed job would read every "
            "position, padding included — use repscope.metrics.layer_matrix(store) (each sample's mean over its "
            "real tokens), or pass {layer: array} of the vectors you mean"
        )


def _dask_layers(source: Any, layers: Sequence[str] | str | None, name: str) -> tuple[list[str], list[Any], Any]:
    """(layer names, 2-D dask arrays, sample ids or None) of a store or a mapping of arrays."""
    import dask.array as da

    if isinstance(layers, str):
        layers = [s.strip() for s in layers.split(",") if s.strip()]
    if isinstance(source, Mapping):
        names = list(source) if layers is None else list(layers)
        missing = [k for k in names if k not in source]
        if missing:
            raise InputError(f"{name} has no layer(s) {missing}; available: {list(source)}")
        arrs = []
        for k in names:
            a = source[k]
            a = a if isinstance(a, da.Array) else da.from_array(np.asarray(a), chunks=(min(len(a), 4096), -1))
            if a.ndim < 2:
                raise InputError(f"{name}[{k!r}] has shape {a.shape}; expected (n_samples, n_features)")
            arrs.append(a.reshape(a.shape[0], -1) if a.ndim > 2 else a)
        return names, arrs, None
    if not (hasattr(source, "layers") and hasattr(source, "layer_info") and hasattr(source, "path")):
        raise InputError(
            f"{name} is a {type(source).__name__}; pass an ActivationStore, a store path, or a mapping "
            f"{{layer: array}}"
        )
    names = list(source.layers) if layers is None else list(layers)
    missing = [k for k in names if k not in source.layers]
    if missing:
        raise InputError(f"{name} has no layer(s) {missing}; available: {source.layers}")
    _refuse_padded_sequences(source, names, name)
    arrs = []
    n = int(source.n_samples)
    for k in names:
        bad = source.nonfinite(k) if hasattr(source, "nonfinite") else 0
        if bad:
            raise InputError(
                f"{name} layer {k!r} has {bad} NaN/Inf values; drop those samples (store.finite_rows(layer)) first"
            )
        if hasattr(source, "dask_array"):  # blocks read with the store's damage checks (layer and rows named)
            arrs.append(source.dask_array(k)[:n])
        else:
            key = source.layer_info(k)["key"]
            arrs.append(da.from_zarr(str(source.path), component=f"layers/{key}")[:n])
    return names, arrs, np.asarray(source.sample_ids)


# --------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------


def streamed_cross_products(
    store_a: Any,
    layers: Sequence[str] | str | None = None,
    store_b: Any = None,
    layers_b: Sequence[str] | str | None = None,
    *,
    pairs: str = "all",
    block_rows: int | None = None,
    scheduler: Any = None,
    progress: bool = False,
    row_norms: bool = False,
) -> CrossProducts:
    """Centred stacked cross products of ``layers`` (and ``store_b``'s ``layers_b``) in one streamed pass.

    Parameters
    ----------
    store_a, store_b:
        ActivationStores (``repscope.open_store``), store paths, or mappings ``{layer: array}`` (numpy or
        dask arrays, ``(n, ...)``). Two stores must hold the same samples in the same order (same
        ``sample_ids``).
    layers, layers_b:
        Layer names (list or comma-separated); default all. ``layers_b`` defaults to ``layers``.
    pairs:
        ``"all"`` — every block S_ij, i ≤ j, over the stacked layers; ``"cross"`` (two sources) — only
        the self blocks and the A×B blocks (what an A×B layer matrix needs).
    block_rows:
        Rows per task (default :func:`repscope.metrics.engine.auto_block_rows`: ~64 MiB of float64 per
        block, a multiple of the store's chunk rows).
    scheduler:
        See the module docstring: ``None``/``"threads"``, ``"serial"``, ``"processes"``, ``"local:N"``,
        ``"tcp://host:port"``, ``"dask"`` or a ``dask.distributed.Client``.
    row_norms:
        Also compute the squared norms of the centred rows (a second, cheap pass; debiased CKA needs them).

    Returns :class:`CrossProducts`; ``.matrix("linear_cka")`` / ``.matrix("procrustes")`` give layer
    matrices, ``.value(metric, i, j)`` single entries.
    """
    import dask

    from repscope.metrics.engine import auto_block_rows

    t0 = time.perf_counter()
    src_a = _open(store_a, "store_a")
    la, arrs, ids_a = _dask_layers(src_a, layers, "store_a")
    lb = None
    if store_b is not None:
        src_b = _open(store_b, "store_b")
        lb, arrs_b, ids_b = _dask_layers(src_b, layers if layers_b is None else layers_b, "store_b")
        if ids_a is not None and ids_b is not None and not np.array_equal(ids_a, ids_b):
            raise InputError(
                "store_a and store_b hold different samples or a different order (sample_ids differ); capture both "
                "on the same inputs in the same order, or use repscope.metrics.layer_matrix, which reorders"
            )
        arrs = arrs + arrs_b
    if not arrs:
        raise InputError("no layers selected; give at least one layer name")
    ns = {int(a.shape[0]) for a in arrs}
    if len(ns) != 1:
        raise InputError(f"layers have different numbers of samples {sorted(ns)}; they must describe the same samples")
    n = ns.pop()
    if n < 2:
        raise InputError(f"only {n} sample(s); cross products need at least 2")
    dims = [int(a.shape[1]) for a in arrs]
    native = max(int(a.chunks[0][0]) for a in arrs)
    br = auto_block_rows(dims, n, native) if block_rows is None else int(block_rows)
    if br < 1:
        raise InputError(f"block_rows={block_rows}; give a positive number of rows per block")
    arrs = [a.rechunk((br, -1)) for a in arrs]
    pair_list = _pairs(len(la), None if lb is None else len(lb), pairs)

    # One task per row block reads every layer's block and returns its statistics; a tree merges them.
    delayed_blocks = [a.to_delayed()[:, 0] for a in arrs]
    stats = [
        dask.delayed(_block_stats, pure=True)([d[b] for d in delayed_blocks], pair_list)
        for b in range(len(delayed_blocks[0]))
    ]
    while len(stats) > 1:
        stats = [dask.delayed(_merge, pure=True)(*stats[s : s + _FAN_IN]) for s in range(0, len(stats), _FAN_IN)]
    total_n, means, S = _compute(stats[0], scheduler, progress)
    if total_n != n:  # pragma: no cover - defensive
        raise InputError(f"streamed {total_n} rows but the sources report {n}; a store may be incomplete")
    q = None
    if row_norms:  # second pass: ‖x_r − μ‖² per row and layer, given the means
        parts = [dask.delayed(_row_norms, pure=True)([d[b] for d in delayed_blocks], means)
                 for b in range(len(delayed_blocks[0]))]
        q = [np.concatenate(c) for c in zip(*_compute(parts, scheduler, progress))]
    return CrossProducts(n=n, layers_a=la, layers_b=lb, dims=dims, means=means, S=S,
                         seconds=time.perf_counter() - t0, q=q)


def _row_norms(blocks: list[np.ndarray], means: list[np.ndarray]) -> list[np.ndarray]:
    from repscope.metrics.engine import centred_row_norms

    return centred_row_norms(blocks, means)


def _compute(obj: Any, scheduler: Any, progress: bool) -> Any:
    import dask

    from repscope.parallel import blas_threads, n_cores

    s = scheduler.strip() if isinstance(scheduler, str) else scheduler
    if s in (None, "threads"):
        with blas_threads(1), _local_progress(progress):
            return dask.compute(obj, scheduler="threads", num_workers=n_cores())[0]
    if s in ("serial", "sync", "synchronous"):
        with _local_progress(progress):
            return dask.compute(obj, scheduler="synchronous")[0]
    if s == "processes":
        with _local_progress(progress):
            return dask.compute(obj, scheduler="processes", num_workers=n_cores(), initializer=_pin_one_thread)[0]
    from repscope.parallel import check_scheduler
    from repscope.parallel.dask import client_for

    check_scheduler(s)
    with client_for(s) as client:
        fut = client.compute(obj)
        try:
            if progress:
                from distributed import progress as dask_progress

                dask_progress(fut)
            return fut.result()
        except BaseException:
            client.cancel(fut, force=True)
            raise


class _local_progress:
    """Dask's text progress bar for the local schedulers (stderr), when asked for."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: ProgressBar | None = None

    def __enter__(self) -> _local_progress:
        if self.enabled:
            from dask.diagnostics import ProgressBar

            bar = ProgressBar()
            bar.__enter__()
            self._bar = bar
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


def streamed_layer_matrix(
    store_a: Any,
    store_b: Any = None,
    metric: str = "linear_cka",
    layers: Sequence[str] | str | None = None,
    *,
    block_rows: int | None = None,
    scheduler: Any = None,
    progress: bool = False,
    **kw: Any,
) -> Any:
    """Out-of-core :class:`~repscope.metrics.LayerMatrix` of a linear ``metric`` (one of
    :func:`repscope.metrics.engine.linear_measures`) from :func:`streamed_cross_products` — the Dask counterpart
    of ``repscope.metrics.layer_matrix``, always in the covariance (d×d) formulation
    (``meta["formulation"] == "covariance"``)."""
    from repscope.metrics.engine import linear_measures, needs_row_norms

    if metric not in linear_measures():
        raise InputError(f"metric {metric!r} is not linear; choose from {linear_measures()}")
    cp = streamed_cross_products(store_a, layers, store_b, pairs="all" if store_b is None else "cross",
                                 block_rows=block_rows, scheduler=scheduler, progress=progress,
                                 row_norms=needs_row_norms(metric))
    return cp.matrix(metric, **kw)
