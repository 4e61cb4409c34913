"""Point clouds from layer activations (Purvine et al. 2022, arXiv 2212.00222, §"Point clouds").

A layer's activations on ``n`` inputs become ``n`` points. For convolutional layers the per-sample
activation is a ``(C, H, W)`` tensor; the paper's choice ("top-ℓ2") keeps, per sample, the channel
vector at the spatial position whose L2 norm is largest, giving an ``(n, C)`` cloud. Other choices here:
global-average pooling over positions, one seeded random position per sample, and the flattened tensor
with an optional seeded Gaussian random projection (Johnson–Lindenstrauss).

Helpers: exact duplicate removal (ReLU layers produce many identical points, which only add zero-length
H0 bars), optional scale normalisation, and farthest-point (landmark) subsampling, which reports the
Hausdorff distance ``ε`` between the cloud and its landmarks: by Rips stability
(Chazal, de Silva, Oudot 2014) the bottleneck distance between the two Rips diagrams is at most ``2ε``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from repscope.errors import InputError
from repscope.validation import as_2d

__all__ = [
    "CLOUD_KINDS",
    "point_cloud",
    "store_cloud",
    "SequenceForm",
    "sequence_form",
    "top_l2",
    "global_avg_pool",
    "random_position",
    "flatten_project",
    "remove_duplicates",
    "normalize_scale",
    "farthest_point_sample",
    "Landmarks",
]

CLOUD_KINDS = ("top_l2", "avg_pool", "random_position", "flatten")


def _as_spatial(A: ArrayLike, shape: tuple[int, ...] | None, name: str) -> np.ndarray:
    """Return activations as ``(n, C, P)`` (P spatial positions), validating NaN/Inf once."""
    arr = np.asarray(A.detach().cpu().numpy() if hasattr(A, "detach") else A)
    if arr.ndim < 2:
        raise InputError(f"{name} has shape {arr.shape}; expected (n_samples, ...) activations")
    n = arr.shape[0]
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if int(np.prod(shape)) != int(np.prod(arr.shape[1:])):
            raise InputError(
                f"{name} has {int(np.prod(arr.shape[1:]))} features per sample but shape {shape} has "
                f"{int(np.prod(shape))}; pass the per-sample shape the layer was captured with"
            )
        arr = arr.reshape((n, *shape))
    if arr.ndim == 2:  # (n, C): no spatial axes, every sample is one position
        arr = arr[:, :, None]
    else:
        arr = arr.reshape(n, arr.shape[1], -1)
    A3 = as_2d(arr.reshape(n, -1), name).reshape(arr.shape)  # validation (NaN/Inf, n ≥ 3) + float64
    return A3


def top_l2(A: ArrayLike, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Per sample, the channel vector at the spatial position with the largest L2 norm (paper's choice).

    ``A``: ``(n, C, H, W)`` (or ``(n, C*H*W)`` with ``shape=(C, H, W)``; any number of spatial axes).
    Returns ``(n, C)``. Ties go to the first position in C-order. A 2-D ``(n, C)`` input (a linear layer)
    is returned unchanged (one position per sample).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import top_l2
    >>> A = np.zeros((3, 2, 2, 2))            # (n, C, H, W)
    >>> A[:, :, 1, 0] = [3.0, 4.0]            # the position (1, 0) has the largest channel-vector norm
    >>> top_l2(A)[0].tolist()
    [3.0, 4.0]
    """
    A3 = _as_spatial(A, shape, "activations")
    norms = np.einsum("ncp,ncp->np", A3, A3)
    pos = np.argmax(norms, axis=1)
    return A3[np.arange(A3.shape[0]), :, pos]


def global_avg_pool(A: ArrayLike, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Mean over spatial positions: ``(n, C, H, W)`` → ``(n, C)``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import global_avg_pool
    >>> A = np.arange(3 * 3 * 2 * 2, dtype=float).reshape(3, 3, 2, 2)
    >>> global_avg_pool(A)[0].tolist()          # mean over each channel's 2×2 map
    [1.5, 5.5, 9.5]
    """
    return _as_spatial(A, shape, "activations").mean(axis=2)


def random_position(A: ArrayLike, shape: tuple[int, ...] | None = None, *, seed: int = 0) -> np.ndarray:
    """One uniformly random spatial position per sample (seeded): ``(n, C, H, W)`` → ``(n, C)``.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import random_position
    >>> A = np.random.default_rng(0).normal(size=(5, 3, 4, 4))
    >>> C = random_position(A, seed=0)
    >>> C.shape, bool(np.array_equal(C, random_position(A, seed=0)))    # seeded
    ((5, 3), True)
    """
    A3 = _as_spatial(A, shape, "activations")
    pos = np.random.default_rng(seed).integers(0, A3.shape[2], size=A3.shape[0])
    return A3[np.arange(A3.shape[0]), :, pos]


def flatten_project(A: ArrayLike, n_components: int | None = None, *, seed: int = 0) -> np.ndarray:
    """Flatten every sample; optionally project to ``n_components`` dims with a seeded Gaussian matrix.

    The projection ``R ~ N(0, 1/k)`` (k = ``n_components``) preserves pairwise distances up to
    ``1 ± O(sqrt(log n / k))`` with high probability (Johnson–Lindenstrauss), so Rips diagrams change
    little while the distance computation gets cheaper. ``None`` or ``k ≥ d`` keeps the flat data.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import flatten_project
    >>> A = np.random.default_rng(0).normal(size=(6, 4, 3, 3))
    >>> flatten_project(A).shape, flatten_project(A, n_components=5, seed=0).shape
    ((6, 36), (6, 5))
    """
    X = as_2d(A, "activations")
    if n_components is None or n_components >= X.shape[1]:
        return X
    if int(n_components) < 1:
        raise InputError(
            f"n_components={n_components} must be a positive integer (or None for no projection)"
        )
    R = np.random.default_rng(seed).standard_normal((X.shape[1], int(n_components))) / np.sqrt(n_components)
    return X @ R


def remove_duplicates(X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Drop exact duplicate rows; return ``(unique_points, kept_indices)`` keeping first occurrences in order.

    Duplicates add only zero-length H0 bars to a Rips diagram, so removing them leaves every diagram
    with positive-length bars unchanged (and makes persistence faster).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import remove_duplicates
    >>> U, kept = remove_duplicates(np.array([[0.0, 1.0], [2.0, 3.0], [0.0, 1.0]]))
    >>> U.tolist(), kept.tolist()
    ([[0.0, 1.0], [2.0, 3.0]], [0, 1])
    """
    A = as_2d(X, "X", min_samples=1)
    _, idx = np.unique(A, axis=0, return_index=True)
    idx = np.sort(idx)
    return A[idx], idx


def normalize_scale(X: ArrayLike, method: str | None = "rms") -> np.ndarray:
    """Rescale a cloud so layers of different magnitude are comparable (Rips diagrams scale linearly).

    ``"rms"``: divide by the root-mean-square distance to the centroid; ``"diameter"``: divide by the
    largest distance to the centroid; ``None``: unchanged. A cloud whose points all coincide raises.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import normalize_scale
    >>> X = 7.0 * np.random.default_rng(0).normal(size=(20, 3))
    >>> Y = normalize_scale(X, "rms")
    >>> round(float(np.sqrt(np.mean(np.sum((Y - Y.mean(0)) ** 2, axis=1)))), 6)
    1.0
    """
    A = as_2d(X, "X", min_samples=1)
    if method is None:
        return A
    dev = np.linalg.norm(A - A.mean(axis=0), axis=1)
    if method == "rms":
        s = float(np.sqrt(np.mean(dev**2)))
    elif method == "diameter":
        s = float(dev.max())
    else:
        raise InputError(f"normalize={method!r} is unknown; use 'rms', 'diameter' or None")
    if s == 0.0:
        raise InputError("all points are identical; the cloud has no scale (and no topology) to normalise")
    return A / s


@dataclass
class Landmarks:
    """Farthest-point subsample: ``points`` = ``X[indices]``; ``hausdorff`` = max distance from any point
    of X to its nearest landmark (the error the subsampling introduces: Rips bottleneck ≤ 2·hausdorff).

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import farthest_point_sample
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> lm = farthest_point_sample(X, 10, seed=0)
    >>> lm.points.shape, bool(np.array_equal(lm.points, X[lm.indices]))
    ((10, 3), True)
    """

    points: np.ndarray
    indices: np.ndarray
    hausdorff: float


def farthest_point_sample(
    X: ArrayLike, n_landmarks: int, *, seed: int | None = 0, start: int | None = None
) -> Landmarks:
    """Greedy farthest-point (maxmin) landmarks.

    Start at ``start`` (or a seeded random point), then repeatedly add the point farthest from the
    current landmarks. O(n · m · d) time, O(n) memory. The Hausdorff error returned is that of the
    chosen set (up to rounding): ``max_x min_l ‖x − l‖``; the greedy set is a 2-approximation of the
    optimal m-centre cover.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import farthest_point_sample
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [10.0, 0.0]])
    >>> lm = farthest_point_sample(X, 3, start=0)
    >>> lm.indices.tolist(), round(lm.hausdorff, 6)   # the far points first; (0.1, 0) is 0.1 from a landmark
    ([0, 3, 2], 0.1)
    """
    A = as_2d(X, "X", min_samples=1)
    n = A.shape[0]
    m = int(n_landmarks)
    if m < 1:
        raise InputError(f"n_landmarks={n_landmarks} must be ≥ 1")
    if m >= n:
        return Landmarks(A.copy(), np.arange(n), 0.0)
    first = int(np.random.default_rng(seed).integers(n)) if start is None else int(start)
    idx = np.empty(m, dtype=np.int64)
    idx[0] = first
    sq = np.einsum("ij,ij->i", A, A)
    d2 = np.maximum(sq + sq[first] - 2.0 * (A @ A[first]), 0.0)
    for k in range(1, m):
        nxt = int(np.argmax(d2))
        idx[k] = nxt
        d2 = np.minimum(d2, np.maximum(sq + sq[nxt] - 2.0 * (A @ A[nxt]), 0.0))
    haus = float(np.sqrt(d2.max()))
    return Landmarks(A[idx], idx, haus)


@dataclass(frozen=True)
class SequenceForm:
    """The per-sample form of a stored sequence layer ``(T, D)`` (tokens or time steps first): its shape and
    each row's number of real steps (``None``: all ``T``). Passed as ``shape=`` to :func:`point_cloud`, it
    makes the real steps the positions: top-ℓ2, average and random position are taken over them."""

    shape: tuple[int, int]
    lengths: np.ndarray | None = None


def sequence_form(store: Any, layer: str, rows: np.ndarray | None = None) -> SequenceForm | None:
    """:class:`SequenceForm` of ``layer`` when the store holds it as a sequence (see
    :func:`repscope.lenses.protocol.layer_kind`; lengths from its ``n_tokens`` attribute), else None."""
    from repscope.lenses import protocol as lens

    shape = tuple(int(s) for s in store.layer_shape(layer)) if hasattr(store, "layer_shape") else ()
    if len(shape) != 2 or lens.layer_kind(store, layer) != "sequence":
        return None
    lengths = lens.valid_lengths(store)
    if lengths is not None and rows is not None:
        lengths = lengths[np.asarray(rows)]
    return SequenceForm((shape[0], shape[1]), lengths)


def _sequence_cloud(A: ArrayLike, form: SequenceForm, kind: str, seed: int) -> np.ndarray:
    from repscope.lenses import protocol as lens

    arr = np.asarray(A.detach().cpu().numpy() if hasattr(A, "detach") else A)
    arr = as_2d(arr.reshape(arr.shape[0], -1), "activations")  # validation (NaN/Inf, n ≥ 3) + float64
    steps = lens.valid_steps(arr, form.shape, form.lengths)
    if kind == "top_l2":
        return np.stack([x[int(np.argmax(np.einsum("td,td->t", x, x)))] for x in steps])
    if kind == "avg_pool":
        return np.stack([x.mean(axis=0) for x in steps])
    rng = np.random.default_rng(seed)
    return np.stack([x[int(rng.integers(0, x.shape[0]))] for x in steps])


def point_cloud(
    A: ArrayLike,
    kind: str = "top_l2",
    *,
    shape: tuple[int, ...] | SequenceForm | None = None,
    n_components: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Build one point cloud ``(n, k)`` from activations ``A`` with the method ``kind``.

    ``kind`` ∈ {"top_l2", "avg_pool", "random_position", "flatten"}; ``shape`` is the per-sample shape
    (e.g. ``(C, H, W)``) when ``A`` is stored flat, or a :class:`SequenceForm` for a sequence layer (the
    positions are then its real steps; ``"flatten"`` keeps every stored value); ``n_components`` the
    random-projection size for ``"flatten"``. Spatial kinds on a layer without spatial axes return the
    activations unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> from repscope.topology import point_cloud
    >>> A = np.random.default_rng(0).normal(size=(8, 4, 3, 3))      # (n, C, H, W)
    >>> point_cloud(A, "top_l2").shape, point_cloud(A, "avg_pool").shape, point_cloud(A, "flatten").shape
    ((8, 4), (8, 4), (8, 36))
    """
    if isinstance(shape, SequenceForm):
        if kind in ("top_l2", "avg_pool", "random_position"):
            return _sequence_cloud(A, shape, kind, seed)
        shape = None if kind == "flatten" else shape.shape
    if kind == "top_l2":
        return top_l2(A, shape)
    if kind == "avg_pool":
        return global_avg_pool(A, shape)
    if kind == "random_position":
        return random_position(A, shape, seed=seed)
    if kind == "flatten":
        return flatten_project(A, n_components, seed=seed)
    raise InputError(f"cloud={kind!r} is unknown; use one of {', '.join(CLOUD_KINDS)}")


def store_cloud(
    store: Any,
    layer: str,
    kind: str = "top_l2",
    *,
    rows: np.ndarray | None = None,
    n_components: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Read ``layer`` (optionally only ``rows``) from an activation store and build its point cloud.

    Uses ``store.layer_shape(layer)`` to restore the per-sample ``(C, H, W)`` shape; a store captured with
    pooling has no spatial axes, in which case the spatial kinds return the stored vectors. A sequence layer
    ``(T, D)`` takes its positions from its real steps (:class:`SequenceForm`).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from repscope.store import StoreWriter, open_store
    >>> from repscope.topology import store_cloud
    >>> tmp = tempfile.TemporaryDirectory()
    >>> with StoreWriter(f"{tmp.name}/acts.zarr", fingerprint={"example": 1}, n_total=6) as w:
    ...     w.append({"conv": np.ones((6, 2, 3, 3), dtype="float32")}, ids=np.arange(6))
    ...     w.finish()
    >>> store_cloud(open_store(f"{tmp.name}/acts.zarr"), "conv", "avg_pool").shape
    (6, 2)
    >>> tmp.cleanup()
    """
    if layer not in list(store.layers):
        raise InputError(f"layer {layer!r} is not in the store; available: {', '.join(store.layers)}")
    A = store.read(layer, rows=rows)
    shape = tuple(store.layer_shape(layer)) if hasattr(store, "layer_shape") else None
    form = sequence_form(store, layer, rows)
    return point_cloud(A, kind, shape=form or shape, n_components=n_components, seed=seed)
