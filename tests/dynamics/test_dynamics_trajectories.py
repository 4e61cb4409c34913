"""DSA / InputDSA between trajectory sets as ``repscope dynamics compare`` / ``inputdsa`` run them
(repscope.dynamics.trajectories): the same answer as the functions they call, the sweep only for settings left
open, and one-line errors for wrong inputs."""

from __future__ import annotations

import numpy as np
import pytest

from repscope.dynamics import DSAConfig, compare_input_driven, compare_trajectories, dsa, load_trajectories
from repscope.errors import InputError


def _rotation(theta: float, n: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c, s = np.cos(theta), np.sin(theta)
    x = np.zeros((n, 2))
    x[0] = rng.normal(size=2)
    for t in range(n - 1):
        x[t + 1] = 0.98 * np.array([[c, -s], [s, c]]) @ x[t]
    return x


def test_two_systems_match_dsa_and_carry_both_residuals():
    a, b = _rotation(0.3), _rotation(0.3, seed=1) @ np.array([[0.0, 1.0], [1.0, 0.0]])
    cmp = compare_trajectories([a, b], ["a", "b"], n_delays=2, rank=2, seed=0)
    ref = dsa(a, b, DSAConfig(n_delays=2, rank=2, seed=0), return_info=True)
    assert cmp.sweep is None and cmp.result.distance == pytest.approx(ref.distance, abs=1e-9)
    assert cmp.result.distance < 1e-3  # same dynamics in another basis
    assert [r.name for r in cmp.results[1:]] == ["a", "b"]  # the two ResDMD residual results
    assert "sweep" not in cmp.to_dict()


def test_the_sweep_chooses_only_what_is_left_open():
    systems = [_rotation(0.3), _rotation(0.5), _rotation(0.3, seed=2)]
    cmp = compare_trajectories(systems, n_delays=2, seed=0)
    assert cmp.sweep is not None and cmp.results[0] is cmp.sweep and cmp.results[-1] is cmp.result
    assert cmp.sweep.best_n_delays == 2 and cmp.to_dict()["sweep"] == cmp.sweep.to_dict()
    D = np.asarray(cmp.result.distances)
    assert D.shape == (3, 3) and D[0, 2] < D[0, 1]  # the two 0.3-rotations are the closest pair


def test_wrong_inputs_are_refused(tmp_path):
    with pytest.raises(InputError, match="at least two"):
        compare_trajectories([_rotation(0.3)])
    with pytest.raises(InputError, match="one .npy file per state file"):
        compare_input_driven([_rotation(0.3)] * 2, [np.zeros((80, 1))])
    with pytest.raises(InputError, match="does not exist"):
        load_trajectories([tmp_path / "none.npy"])
    (tmp_path / "bad.npy").write_text("text")
    with pytest.raises(InputError, match="could not be read"):
        load_trajectories([tmp_path / "bad.npy"])
