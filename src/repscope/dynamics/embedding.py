"""Trial handling and delay (Hankel) embedding.

Trajectories come in three shapes, all accepted everywhere in :mod:`repscope.dynamics`:

- one trial ``(T, N)`` (T time steps, N observed dimensions);
- a stack of equal-length trials ``(K, T, N)``;
- a list of trials ``[(T_1, N), (T_2, N), ...]`` of possibly different lengths ("ragged"); an element may
  also be a ``(K_i, T_i, N)`` stack.

Trials are never concatenated in time: every embedding row and every DMD transition pair comes from a
single trial.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repscope.errors import InputError
from repscope.validation import as_2d

__all__ = ["as_trials", "delay_embed"]


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < minimum:
        raise InputError(f"{name}={value!r} is invalid; pass an integer ≥ {minimum}")
    return int(value)


def as_trials(data: Any, name: str = "X") -> list[np.ndarray]:
    """Validate trajectories and return them as a list of float64 ``(T_k, N)`` arrays (copies as needed).

    Accepts ``(T, N)``, ``(K, T, N)`` or a list/tuple of such arrays (ragged lengths allowed). All trials
    must have the same number of dimensions N and only finite values. The caller's arrays are not modified.
    """
    if isinstance(data, list | tuple):
        if len(data) == 0:
            raise InputError(f"{name} is an empty list of trials; pass at least one (T, N) trajectory")
        trials: list[np.ndarray] = []
        for k, item in enumerate(data):
            trials.extend(as_trials(item, name=f"{name}[{k}]"))
    else:
        if hasattr(data, "detach"):
            data = data.detach().cpu().numpy()
        arr = np.asarray(data)
        if arr.ndim == 3:
            trials = [as_2d(arr[k], f"{name}[{k}]", min_samples=1) for k in range(arr.shape[0])]
            if not trials:
                raise InputError(f"{name} has shape {arr.shape} with no trials; pass (K, T, N) with K ≥ 1")
        elif arr.ndim == 2:
            trials = [as_2d(arr, name, min_samples=1)]
        elif arr.ndim == 1:
            raise InputError(
                f"{name} has shape {arr.shape}; expected (T, N), (K, T, N) or a list of (T, N) trials — "
                f"reshape a single observed dimension with x.reshape(-1, 1)"
            )
        else:
            raise InputError(
                f"{name} has shape {arr.shape}; expected (T, N), (K, T, N) or a list of (T, N) trials"
            )
    dims = {t.shape[1] for t in trials}
    if len(dims) > 1:
        raise InputError(
            f"{name} mixes trials with different numbers of dimensions {sorted(dims)}; every trial of one "
            f"system must observe the same N dimensions"
        )
    return trials


def _embed_one(x: np.ndarray, n_delays: int, delay_interval: int) -> np.ndarray:
    T, N = x.shape
    span = (n_delays - 1) * delay_interval
    Tp = T - span
    out = np.empty((Tp, N * n_delays), dtype=x.dtype)
    for d in range(n_delays):
        start = span - d * delay_interval
        out[:, d * N : (d + 1) * N] = x[start : start + Tp]
    return out


def delay_embed(data: Any, n_delays: int = 1, delay_interval: int = 1, *, name: str = "X") -> Any:
    """Delay (Hankel) embedding of trajectories, trial by trial.

    Row ``t`` of the embedding of a trial ``x`` is ``[x_s, x_{s-τ}, …, x_{s-(d-1)τ}]`` with
    ``s = t + (d-1)τ``, ``d = n_delays`` and ``τ = delay_interval``: the current state first, then
    older states (the convention of Ostrow et al. 2023, package ``dsa-metric``). A trial of length T
    gives ``T - (d-1)τ`` rows of width ``N·d``.

    Returns the same structure as the input: ``(T', N·d)`` for ``(T, N)``, ``(K, T', N·d)`` for
    ``(K, T, N)``, and a list of ``(T_k', N·d)`` arrays for a list of trials.
    Raises :class:`InputError` when a trial is too short for the requested delays.
    """
    n_delays = _check_int(n_delays, "n_delays", 1)
    delay_interval = _check_int(delay_interval, "delay_interval", 1)
    trials = as_trials(data, name)
    span = (n_delays - 1) * delay_interval
    for k, t in enumerate(trials):
        if t.shape[0] - span < 1:
            raise InputError(
                f"{name} trial {k} has T={t.shape[0]} time steps, too short for n_delays={n_delays} with "
                f"delay_interval={delay_interval} (needs T > {span}); use fewer delays or longer trials"
            )
    embedded = [_embed_one(t, n_delays, delay_interval) for t in trials]
    if isinstance(data, list | tuple):
        return embedded
    arr_ndim = np.ndim(data) if not hasattr(data, "ndim") else data.ndim
    if arr_ndim == 3:
        return np.stack(embedded)
    return embedded[0]
