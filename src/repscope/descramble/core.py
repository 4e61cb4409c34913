"""Closed-form optimal descramblers from preactivations (Sule, Spencer & Czaja 2023, arXiv:2301.07820).

Orientation: the paper writes the preactivations of a layer as ``S`` with **one row per unit and one
column per sample** (``n_units × n_samples``) and we keep that convention for 2-D arrays
(``layout="units_first"``; pass ``layout="samples_first"`` for the usual ``(n_samples, n_units)``).
Arrays with three or more dimensions are convolutional captures ``(n_samples, C, *spatial)``: channels
are the units and every (sample, position) pair is a sample.

With ``A = S Sᵀ / n_samples`` (the second-moment matrix; ``center=True`` subtracts the mean first) and a
smoothness operator ``N = Dᵀ D``, the descrambler is

    P* = argmin_{P ∈ O(n)} tr(Pᵀ N P A) = T Uᵀ,

``T`` the eigenvectors of ``N`` (ascending), ``U`` those of ``A`` (descending) — the principal
components of the preactivations. The minimum is ``Σ λ↓(A) μ↑(N)``. Note ``cost_`` is per sample: the
paper's η(P) = ‖D P S‖²_F equals ``cost_ · n_samples``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.descramble.operators import (
    SmoothnessOperator,
    brockett_cost,
    make_operator,
    mode_spectrum,
    tie_groups,
)
from repscope.errors import InputError, StoreError
from repscope.validation import as_2d

__all__ = [
    "DescrambleWarning",
    "Descrambler",
    "descrambler",
    "descramble",
    "preactivations_matrix",
    "second_moment",
    "second_moment_from_store",
    "descramble_weights",
]


class DescrambleWarning(UserWarning):
    """Warnings from the descrambling lens (e.g. fewer samples than units: rank-deficient moment).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from repscope.descramble import DescrambleWarning, Descrambler
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = Descrambler().fit(np.random.default_rng(0).normal(size=(6, 3)))   # 3 samples < 6 units
    >>> any(issubclass(w.category, DescrambleWarning) for w in caught)
    True
    """


def preactivations_matrix(S: ArrayLike, layout: str = "units_first", name: str = "S") -> np.ndarray:
    """Return preactivations as a float64 ``(n_units, n_samples)`` matrix (never a view of the caller's
    array that could be written to).

    ``S`` is 2-D (``units_first``: units × samples as in the paper; ``samples_first``: samples × units),
    or a convolutional capture ``(n_samples, C, *spatial)``, flattened to ``(C, n_samples·prod(spatial))``.
    Raises :class:`InputError` on NaN/Inf, non-numeric or too-small input.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import preactivations_matrix
    >>> preactivations_matrix(np.zeros((4, 10))).shape                     # (units, samples)
    (4, 10)
    >>> preactivations_matrix(np.zeros((10, 4)), layout="samples_first").shape
    (4, 10)
    """
    if hasattr(S, "detach"):
        S = S.detach().cpu().numpy()
    arr = np.asarray(S)
    if arr.ndim >= 3:
        if arr.shape[1] < 2:
            raise InputError(f"{name} has shape {arr.shape}: a conv capture needs ≥ 2 channels on axis 1")
        arr = np.moveaxis(arr, 1, -1).reshape(-1, arr.shape[1])  # (samples·positions, C)
        X = as_2d(arr, name, min_samples=1)
    elif arr.ndim == 2:
        if layout not in ("units_first", "samples_first"):
            raise InputError(f"layout must be 'units_first' or 'samples_first', got {layout!r}")
        X = as_2d(arr.T if layout == "units_first" else arr, name, min_samples=1)
    else:
        raise InputError(
            f"{name} has shape {arr.shape}; pass preactivations as (n_units, n_samples), or "
            f"(n_samples, C, H, W) for a conv layer"
        )
    if X.shape[1] < 2:
        raise InputError(f"{name} has {X.shape[1]} unit(s); descrambling needs at least 2 units")
    return np.ascontiguousarray(X.T)


def second_moment(S: np.ndarray, center: bool = False) -> tuple[np.ndarray, int, np.ndarray]:
    """``A = S Sᵀ / n`` for ``S`` (units × samples); returns ``(A, n_samples, mean)``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import second_moment
    >>> S = np.array([[1.0, -1.0], [2.0, 2.0]])          # 2 units × 2 samples
    >>> A, n, mean = second_moment(S)
    >>> A.tolist(), n                                   # S Sᵀ / n
    ([[1.0, 0.0], [0.0, 4.0]], 2)
    """
    n = S.shape[1]
    mean = S.mean(axis=1)
    Sc = S - mean[:, None] if center else S
    A = (Sc @ Sc.T) / n
    return 0.5 * (A + A.T), n, mean


def _store_block_units(block: np.ndarray, layer_shape: tuple[int, ...]) -> np.ndarray:
    """A store block (rows, features) → (rows·positions, units)."""
    if len(layer_shape) >= 2:
        b = block.reshape((block.shape[0], *layer_shape))
        return np.moveaxis(b, 1, -1).reshape(-1, layer_shape[0])
    return block.reshape(block.shape[0], -1)


def second_moment_from_store(
    store: Any, layer: str, *, block_rows: int = 2048, center: bool = False, progress: bool = False
) -> tuple[np.ndarray, int, np.ndarray]:
    """Stream ``A = S Sᵀ / n`` for a stored layer in row blocks (memory ∝ block_rows, not n_samples).

    Uses ``store.iter_rows(layer, block_rows)`` and ``store.layer_shape(layer)``: a per-sample shape of
    ``(C, *spatial)`` makes channels the units (positions become samples); a sequence ``(T, D)``
    (:func:`repscope.lenses.protocol.layer_kind`) makes features the units and its real steps the samples
    (the first ``n_tokens`` of each when the store has them). Accumulates in float64.
    Returns ``(A, n_samples_effective, mean)``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> store, tmp = toy_store()              # 60 samples, 3 classes: fc1 (Linear), relu, fc2 (Linear)
    >>> from repscope.descramble import second_moment, second_moment_from_store
    >>> A, n, _ = second_moment_from_store(store, "fc1", block_rows=16)     # streamed in blocks
    >>> A_full, _, _ = second_moment(store.read("fc1").T.astype(float))
    >>> n, bool(np.allclose(A, A_full))
    (60, True)
    >>> tmp.cleanup()
    """
    from repscope.lenses import protocol as lens

    if layer not in list(store.layers):
        raise InputError(f"layer {layer!r} is not in the store; available: {', '.join(store.layers)}")
    shape = tuple(int(s) for s in store.layer_shape(layer))
    seq = len(shape) == 2 and lens.layer_kind(store, layer) == "sequence"
    lengths = lens.valid_lengths(store) if seq else None
    units = shape[-1] if seq else shape[0] if len(shape) >= 2 else int(np.prod(shape))
    if units < 2:
        raise InputError(f"layer {layer!r} has {units} unit(s); descrambling needs at least 2")
    A = np.zeros((units, units))
    s = np.zeros(units)
    n = 0
    from repscope.parallel import progress_bar

    total = int(getattr(store, "n_samples", 0)) or None
    with progress_bar(progress) as prog:
        task = prog.add_task(f"moment {layer}", total=total)
        for start, block in store.iter_rows(layer, block_rows):
            if seq:
                L = None if lengths is None else lengths[start : start + block.shape[0]]
                B = np.concatenate(lens.valid_steps(block, shape, L))
            else:
                B = _store_block_units(np.asarray(block, dtype=np.float64), shape)
            if not np.isfinite(B).all():
                raise InputError(
                    f"layer {layer!r} contains NaN or Inf in rows starting at {start}; fix the model or "
                    f"drop those samples before descrambling"
                )
            A += B.T @ B
            s += B.sum(axis=0)
            n += B.shape[0]
            prog.advance(task, block.shape[0])
    if n == 0:
        raise StoreError(f"layer {layer!r} has no rows; re-capture the store")
    mean = s / n
    A /= n
    if center:
        A -= np.outer(mean, mean)
    return 0.5 * (A + A.T), n, mean


def descramble_weights(P: np.ndarray, W: ArrayLike) -> np.ndarray:
    """Descrambled weights ``P · W`` with ``P`` acting on the first (output-unit) axis of ``W``.

    ``W`` is ``(n_units, n_inputs)`` for a linear layer or ``(C_out, C_in, kh, kw)`` for a conv layer.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import descramble_weights
    >>> P = np.array([[0.0, 1.0], [1.0, 0.0]])          # swap the two output units
    >>> descramble_weights(P, np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[3.0, 4.0], [1.0, 2.0]]
    """
    if hasattr(W, "detach"):
        W = W.detach().cpu().numpy()
    Wa = np.asarray(W, dtype=np.float64)
    if Wa.ndim < 1 or Wa.shape[0] != P.shape[0]:
        raise InputError(
            f"weights have shape {Wa.shape} but the descrambler is for {P.shape[0]} units; pass the weight "
            f"of the same layer with output units on axis 0 (torch Linear/Conv weight layout)"
        )
    if not np.isfinite(Wa).all():
        raise InputError("weights contain NaN or Inf; fix them before descrambling")
    return np.tensordot(P, Wa, axes=(1, 0))


class Descrambler:
    """Optimal orthogonal descrambler ``P* = T Uᵀ`` of a layer (Sule et al. 2023), scikit-learn style.

    Parameters
    ----------
    operator : str, array or SmoothnessOperator
        ``"first_difference"`` (DCT-II modes), ``"periodic_second_derivative"`` (real DFT pairs), a
        derivative matrix ``D`` (m × n_units), or a prepared :class:`SmoothnessOperator`.
    center : bool
        Subtract the per-unit mean before forming ``A`` (default ``False``, as in the paper: ``A = SSᵀ``).
    layout : ``"units_first"`` | ``"samples_first"``
        Orientation of 2-D input to :meth:`fit` (paper convention: units × samples).
    tie_rtol : float
        Relative tolerance for calling eigenvalues of ``A`` or ``N`` tied (degenerate subspaces).

    Fitted attributes
    -----------------
    P_ : (n, n) descrambler; ``P_ @ S`` are the descrambled preactivations, ``P_ @ W`` the weights.
    components_ : (n, n) eigenvectors ``U`` of ``A`` as columns, descending (principal components).
    pc_variances_ : eigenvalues ``λ↓`` of ``A``.  mode_eigenvalues_ : ``μ↑`` of ``N``.
    cost_ : ``tr(P_ᵀ N P_ A)``.  bound_ : ``Σ λ↓ μ↑`` (equal to ``cost_`` up to rounding).
    cost_identity_ : cost of the layer's own unit order (``P = I``).
    degenerate_pc_groups_ / degenerate_mode_groups_ : index groups (size > 1) of tied eigenvalues of
        ``A`` / ``N``. Inside such a group P* is not unique: only the spanned subspace is determined.
    unique_ : ``True`` when neither has ties (P* then unique up to the signs of its rows).
    moment_ : ``A``;  n_units_, n_samples_, rank_ : sizes and numerical rank of ``A``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import Descrambler, random_orthogonal
    >>> t = np.linspace(0, 1, 12)[:, None]                     # 12 units along a smooth axis
    >>> rng = np.random.default_rng(0)
    >>> S = np.sin(2 * np.pi * t * rng.uniform(0.5, 1.5, size=(1, 200)))   # units × samples
    >>> scrambled = random_orthogonal(12, seed=1) @ S
    >>> d = Descrambler("first_difference").fit(scrambled)
    >>> bool(np.isclose(d.cost_, d.bound_))                    # the closed form attains the Brockett bound
    True
    >>> d.P_.shape, bool(np.allclose(d.P_ @ d.P_.T, np.eye(12)))
    ((12, 12), True)
    """

    def __init__(
        self,
        operator: SmoothnessOperator | ArrayLike = "first_difference",
        *,
        center: bool = False,
        layout: str = "units_first",
        tie_rtol: float = 1e-9,
    ) -> None:
        self.operator = operator
        self.center = center
        self.layout = layout
        self.tie_rtol = tie_rtol

    # ---------------------------------------------------------------- fitting
    def fit(self, S: ArrayLike, y: ArrayLike | None = None) -> Descrambler:
        """Fit from preactivations ``S`` (see module docstring for orientation)."""
        Sm = preactivations_matrix(S, self.layout)
        A, n, mean = second_moment(Sm, self.center)
        return self._fit_moment(A, n, mean)

    def fit_moment(self, A: ArrayLike, n_samples: int) -> Descrambler:
        """Fit from a precomputed second-moment matrix ``A`` (units × units) over ``n_samples`` samples."""
        from repscope.descramble.operators import _square_matrix

        A = _square_matrix(A, "A (second-moment matrix)")
        if not np.allclose(A, A.T, rtol=1e-8, atol=1e-12 * max(1.0, float(np.abs(A).max()))):
            raise InputError("A (second-moment matrix) is not symmetric; pass S @ S.T / n_samples")
        return self._fit_moment(0.5 * (A + A.T), int(n_samples), None)

    def fit_store(
        self, store: Any, layer: str, *, block_rows: int = 2048, progress: bool = False
    ) -> Descrambler:
        """Fit from a stored layer, streaming ``A`` in row blocks (conv layers: channels are units)."""
        A, n, mean = second_moment_from_store(
            store, layer, block_rows=block_rows, center=self.center, progress=progress
        )
        return self._fit_moment(A, n, mean)

    def _fit_moment(self, A: np.ndarray, n_samples: int, mean: np.ndarray | None) -> Descrambler:
        n = A.shape[0]
        op: SmoothnessOperator = make_operator(self.operator, n)
        if n_samples < n:
            warnings.warn(
                f"only {n_samples} samples for {n} units: the second-moment matrix has rank ≤ "
                f"{n_samples}, so the descrambler is determined only on a {n_samples}-dimensional subspace "
                f"(the other rows span a degenerate null space, see degenerate_pc_groups_). Use at least "
                f"{n} samples; if your array is (n_samples, n_units), pass layout='samples_first'",
                DescrambleWarning,
                stacklevel=3,
            )
        vals, vecs = np.linalg.eigh(A)
        lam, U = vals[::-1].copy(), _fix_signs_cols(vecs[:, ::-1])
        T, mu = op.modes, op.eigenvalues
        P = T @ U.T
        self.operator_ = op
        self.moment_ = A
        self.mean_ = mean
        self.n_units_ = n
        self.n_samples_ = int(n_samples)
        self.components_ = U
        self.pc_variances_ = lam
        self.mode_eigenvalues_ = mu
        self.P_ = P
        self.cost_ = brockett_cost(P, A, op.N)
        self.bound_ = float(np.dot(lam, mu))
        self.cost_identity_ = float(np.sum(op.N * A))
        scale = max(float(np.abs(lam).max()), np.finfo(float).tiny)
        self.rank_ = int(np.sum(lam > n * np.finfo(float).eps * scale * 10))
        pc_groups = tie_groups(lam, rtol=self.tie_rtol, atol=n * np.finfo(float).eps * scale * 10)
        self.degenerate_pc_groups_ = [g for g in pc_groups if len(g) > 1]
        self.degenerate_mode_groups_ = op.mode_groups(self.tie_rtol)
        self.unique_ = not self.degenerate_pc_groups_ and not self.degenerate_mode_groups_
        return self

    # ---------------------------------------------------------------- use
    def _check_fitted(self) -> None:
        if not hasattr(self, "P_"):
            raise InputError("this Descrambler is not fitted yet; call .fit(S) first")

    def transform(self, S: ArrayLike) -> np.ndarray:
        """Descrambled preactivations ``P_ S`` (units × samples; conv input → (C, samples·positions))."""
        self._check_fitted()
        Sm = preactivations_matrix(S, self.layout)
        if Sm.shape[0] != self.n_units_:
            raise InputError(f"S has {Sm.shape[0]} units but the descrambler was fitted on {self.n_units_}")
        return self.P_ @ Sm

    def fit_transform(self, S: ArrayLike, y: ArrayLike | None = None) -> np.ndarray:
        return self.fit(S).transform(S)

    def descramble_weights(self, W: ArrayLike) -> np.ndarray:
        """``P_ · W`` over the output-unit axis of the layer's weight (linear or conv)."""
        self._check_fitted()
        return descramble_weights(self.P_, W)

    def result(self, weights: ArrayLike | None = None, *, layer: str | None = None, cutoff: float = 0.25):
        """A :class:`~repscope.descramble.results.DescrambleResult` (report/CLI object) for this fit."""
        from repscope.descramble.results import DescrambleResult

        self._check_fitted()
        op = self.operator_
        T = op.modes
        # energy of the preactivations per mode: raw order tᵀ A t; descrambled order: λ↓ (= tᵀ P A Pᵀ t)
        spec_raw_S = np.sum(T * (self.moment_ @ T), axis=0)  # diag(Tᵀ A T) in one BLAS product
        spec_des_S = self.pc_variances_.copy()
        W = Wd = None
        spec_raw_W = spec_des_W = None
        if weights is not None:
            Wd = self.descramble_weights(weights)
            W = np.asarray(weights.detach().cpu().numpy() if hasattr(weights, "detach") else weights,
                           dtype=np.float64)
            spec_raw_W = mode_spectrum(W, op)
            spec_des_W = mode_spectrum(Wd, op)
        return DescrambleResult(
            layer=layer, operator=op.name, n_units=self.n_units_, n_samples=self.n_samples_,
            cost=self.cost_, bound=self.bound_, cost_identity=self.cost_identity_, rank=self.rank_,
            pc_variances=self.pc_variances_, mode_eigenvalues=self.mode_eigenvalues_,
            spectrum_raw=spec_raw_S, spectrum_descrambled=spec_des_S,
            weight_spectrum_raw=spec_raw_W, weight_spectrum_descrambled=spec_des_W,
            weights=W, weights_descrambled=Wd, P=self.P_,
            degenerate_pc_groups=self.degenerate_pc_groups_,
            degenerate_mode_groups=self.degenerate_mode_groups_, cutoff=cutoff,
        )


def _fix_signs_cols(V: np.ndarray) -> np.ndarray:
    from repscope.descramble.operators import _fix_signs

    return _fix_signs(V)


def descrambler(S: ArrayLike, operator: ArrayLike = "first_difference", **kwargs: Any) -> np.ndarray:
    """Closed-form optimal descrambler ``P* = T Uᵀ`` for preactivations ``S`` (units × samples).

    Minimises ``tr(Pᵀ N P A)`` over orthogonal ``P`` with ``A = S Sᵀ / n`` and ``N = Dᵀ D``
    (Sule, Spencer & Czaja 2023, Thm. on Brockett minimisers). ``kwargs`` go to :class:`Descrambler`.
    Returns ``P`` (n_units × n_units).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import brockett_bound, brockett_cost, descrambler, first_difference
    >>> S = np.random.default_rng(0).normal(size=(6, 50))
    >>> P = descrambler(S)
    >>> N = first_difference(6).N
    >>> bool(np.isclose(brockett_cost(P, S @ S.T / 50, N), brockett_bound(S @ S.T / 50, N)))
    True
    """
    return Descrambler(operator, **kwargs).fit(S).P_


def descramble(
    S: ArrayLike,
    operator: ArrayLike = "first_difference",
    *,
    weights: ArrayLike | None = None,
    layer: str | None = None,
    **kwargs: Any,
):
    """Fit a :class:`Descrambler` on ``S`` and return its report object (with ``weights`` → ``P* W``).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.descramble import descramble
    >>> rng = np.random.default_rng(0)
    >>> S = rng.normal(size=(5, 40))
    >>> r = descramble(S, weights=rng.normal(size=(5, 3)), layer="fc1")
    >>> r.layer, r.n_units, r.n_samples, bool(r.cost <= r.cost_identity)
    ('fc1', 5, 40, True)
    """
    return Descrambler(operator, **kwargs).fit(S).result(weights, layer=layer)
