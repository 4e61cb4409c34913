"""DSA and InputDSA between stored trajectories (what ``repscope dynamics compare`` and ``inputdsa`` run):
the ``(n_delays, rank)`` settings a user leaves open chosen by the held-out sweep (:func:`sweep_dmd`), then one
comparison with both fits for two systems, or all pairs for more."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repscope.dynamics.config import DSAConfig
from repscope.errors import InputError

__all__ = ["TrajectoryComparison", "compare_input_driven", "compare_trajectories", "load_trajectories"]


@dataclass
class TrajectoryComparison:
    """The outcome of :func:`compare_trajectories` / :func:`compare_input_driven`: the comparison ``result``
    (one pair, or the all-pairs matrix), the ``sweep`` that chose the missing settings (None when all were
    given) and every result worth a figure, in order (``results``)."""

    result: Any
    sweep: Any = None
    results: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result's ``to_dict()``, with the sweep's under ``"sweep"`` when there was one."""
        payload = self.result.to_dict()
        if self.sweep is not None:
            payload["sweep"] = self.sweep.to_dict()
        return payload


def load_trajectories(files: Sequence[str | Path], what: str = "trajectories") -> list[np.ndarray]:
    """The arrays of .npy files of shape (T, N) or (K, T, N) (never unpickled); ``what`` names them in errors.

    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from repscope.dynamics.trajectories import load_trajectories
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(tmp.name) / "x.npy"
    >>> np.save(path, np.zeros((20, 3)))
    >>> [a.shape for a in load_trajectories([path])]
    [(20, 3)]
    >>> tmp.cleanup()
    """
    arrays = []
    for f in map(Path, files):
        if not f.exists():
            raise InputError(f"{f} does not exist; pass paths to .npy files of shape (T, N) or (K, T, N) ({what})")
        try:
            arrays.append(np.load(f, allow_pickle=False))
        except Exception as exc:
            raise InputError(f"{f} could not be read as a .npy array ({exc}); save with numpy.save") from exc
    return arrays


def _sweep(systems: list[Any], n_delays: int | None, rank: int | None, names: list[str] | None, seed: int,
           log: Callable[[str], None] | None, **kw: Any) -> Any:
    from repscope.dynamics.sweep import sweep_dmd

    sweep = sweep_dmd(systems, n_delays=None if n_delays is None else [n_delays],
                      ranks=None if rank is None else [rank], names=names, seed=seed, **kw)
    if log is not None:
        log(sweep.summary())
    return sweep


def compare_trajectories(systems: Sequence[Any], names: list[str] | None = None, *, n_delays: int | None = None,
                         delay_interval: int = 1, rank: int | None = None, metric: str = "angular", seed: int = 0,
                         progress: bool = False, log: Callable[[str], None] | None = None) -> TrajectoryComparison:
    """DSA between two or more trajectory sets (each (T, N) or (K, T, N)): for two, one distance with its
    certificate and both DMD fits' ResDMD residuals (spurious eigenvalues flagged) among ``results``; for more,
    the all-pairs matrix. A missing ``n_delays``/``rank`` is chosen by a sweep of held-out next-step prediction
    error (one common choice for all systems; its summary goes to ``log``).

    >>> import numpy as np
    >>> from repscope.dynamics.trajectories import compare_trajectories
    >>> t = np.arange(60) * 0.2
    >>> x = np.column_stack([np.cos(t), np.sin(t)])
    >>> cmp = compare_trajectories([x, 2 * x], n_delays=2, rank=2)
    >>> bool(cmp.result.distance < 1e-6), cmp.sweep is None, len(cmp.results)
    (True, True, 3)
    """
    from repscope.dynamics._dsa import dsa, dsa_matrix

    systems = list(systems)
    if len(systems) < 2:
        raise InputError("pass at least two .npy trajectory files to compare")
    names = names or [f"system {i}" for i in range(len(systems))]
    cfg = DSAConfig(n_delays=n_delays or 1, delay_interval=delay_interval, rank=rank, metric=metric, seed=seed)
    sweep = None
    if n_delays is None or rank is None:
        sweep = _sweep(systems, n_delays, rank, names, seed, log, config=cfg)
        cfg = sweep.best_config
    if len(systems) > 2:
        res: Any = dsa_matrix(systems, config=cfg, names=names, progress=progress)
        return TrajectoryComparison(res, sweep, [*([sweep] if sweep else []), res])
    res = dsa(systems[0], systems[1], cfg, return_info=True)
    residuals = []
    for dm, nm in zip((res.dmd_x, res.dmd_y), names):
        rd = dm.residuals()
        rd.name = nm
        residuals.append(rd)
    return TrajectoryComparison(res, sweep, [*([sweep] if sweep else []), res, *residuals])


def compare_input_driven(states: Sequence[Any], inputs: Sequence[Any], names: list[str] | None = None, *,
                         method: str = "dmdc", n_delays: int | None = None, rank: int | None = None,
                         metric: str = "angular", seed: int = 0,
                         log: Callable[[str], None] | None = None) -> TrajectoryComparison:
    """InputDSA between two or more input-driven systems (state trajectories ``states``, input trajectories
    ``inputs``, one per state set): intrinsic dynamics (A) vs input coupling (B). Two systems: one comparison
    with both fits among ``results``; more: all pairs. With ``method="dmdc"`` a missing ``n_delays``/``rank``
    is chosen by the held-out sweep (summary to ``log``); ``subspace`` defaults to a horizon of 2.

    >>> import numpy as np
    >>> from repscope.dynamics.trajectories import compare_input_driven
    >>> rng = np.random.default_rng(0)
    >>> u = rng.normal(size=(80, 1))
    >>> x = np.zeros((80, 2))
    >>> for t in range(79):
    ...     x[t + 1] = [[0.9, 0.1], [0.0, 0.8]] @ x[t] + [1.0, 0.5] * u[t]
    >>> cmp = compare_input_driven([x, x], [u, u], n_delays=1, rank=2)
    >>> len(cmp.results)
    3
    """
    from repscope.dynamics.inputdsa import input_dsa, input_dsa_matrix

    states, inputs = list(states), list(inputs)
    if len(states) < 2:
        raise InputError(f"inputdsa compares two or more systems; got {len(states)} state file(s)")
    if len(inputs) != len(states):
        raise InputError(f"--inputs needs one .npy file per state file ({len(states)}), got {len(inputs)}")
    names = names or [f"system {i}" for i in range(len(states))]
    sweep = None
    if method == "dmdc" and (n_delays is None or rank is None):
        sweep = _sweep(states, n_delays, rank, names, seed, log, inputs=inputs)
        n_delays, rank = sweep.best_n_delays, sweep.best_rank
    kw: dict[str, Any] = dict(n_delays=2 if n_delays is None else n_delays, rank=rank, metric=metric,
                              method=method, seed=seed)
    first = [sweep] if sweep is not None else []
    if len(states) == 2:
        res: Any = input_dsa(states[0], inputs[0], states[1], inputs[1], **kw)
        return TrajectoryComparison(res, sweep, [*first, res, res.fit_x, res.fit_y])
    res = input_dsa_matrix(states, inputs, names=names, **kw)
    return TrajectoryComparison(res, sweep, [*first, res])
