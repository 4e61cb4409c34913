"""Point clouds from activations: top-ℓ2, pooling, random position, projection, dedupe, landmarks."""

import numpy as np
import pytest

from repscope.errors import InputError
from repscope.topology import (
    farthest_point_sample,
    flatten_project,
    global_avg_pool,
    normalize_scale,
    point_cloud,
    random_position,
    remove_duplicates,
    top_l2,
)


def _acts(n=20, C=4, H=3, W=5, seed=0):
    return np.random.default_rng(seed).standard_normal((n, C, H, W))


def test_top_l2_picks_largest_norm_position():
    A = _acts() * 0.1
    hot = [(i % 3, (2 * i) % 5) for i in range(A.shape[0])]
    for i, (h, w) in enumerate(hot):
        A[i, :, h, w] = 10.0 + i
    got = top_l2(A)
    want = np.stack([A[i, :, h, w] for i, (h, w) in enumerate(hot)])
    np.testing.assert_array_equal(got, want)
    # flat storage + per-sample shape gives the same cloud
    np.testing.assert_array_equal(top_l2(A.reshape(len(A), -1), shape=(4, 3, 5)), want)


def test_pooling_and_random_position():
    A = _acts()
    np.testing.assert_allclose(global_avg_pool(A), A.mean(axis=(2, 3)))
    r1, r2 = random_position(A, seed=3), random_position(A, seed=3)
    np.testing.assert_array_equal(r1, r2)
    flat = A.reshape(len(A), 4, -1)
    for i in range(len(A)):  # every row is the channel vector of some position of that sample
        assert np.any(np.all(np.isclose(flat[i].T, r1[i]), axis=1))
    # a layer without spatial axes is returned unchanged by every spatial kind
    X = np.random.default_rng(1).standard_normal((10, 6))
    for kind in ("top_l2", "avg_pool", "random_position"):
        np.testing.assert_array_equal(point_cloud(X, kind), X)


def test_shape_mismatch_and_unknown_kind():
    with pytest.raises(InputError, match="shape"):
        top_l2(np.zeros((5, 12)), shape=(4, 2, 2))
    with pytest.raises(InputError, match="unknown"):
        point_cloud(np.zeros((5, 3)), "bogus")


def test_random_projection_preserves_distances_and_is_seeded():
    X = np.random.default_rng(0).standard_normal((30, 2000))
    P = flatten_project(X, 800, seed=1)
    np.testing.assert_array_equal(P, flatten_project(X, 800, seed=1))
    from scipy.spatial.distance import pdist

    ratio = pdist(P) / pdist(X)
    assert 0.85 < ratio.min() and ratio.max() < 1.15
    np.testing.assert_array_equal(flatten_project(X, None), X)


def test_remove_duplicates_keeps_first_occurrences_in_order():
    X = np.array([[1.0, 0], [0, 1], [1, 0], [2, 2], [0, 1]])
    U, idx = remove_duplicates(X)
    np.testing.assert_array_equal(idx, [0, 1, 3])
    np.testing.assert_array_equal(U, X[[0, 1, 3]])


def test_normalize_scale():
    X = np.random.default_rng(0).standard_normal((50, 3)) * 7 + 3
    Y = normalize_scale(X, "rms")
    assert np.sqrt(np.mean(np.sum((Y - Y.mean(0)) ** 2, axis=1))) == pytest.approx(1.0)
    Z = normalize_scale(X, "diameter")
    assert np.linalg.norm(Z - Z.mean(0), axis=1).max() == pytest.approx(1.0)
    with pytest.raises(InputError, match="identical"):
        normalize_scale(np.ones((5, 2)))


def test_farthest_point_sample_hausdorff_is_exact():
    X = np.random.default_rng(2).standard_normal((200, 5))
    before = X.copy()
    lm = farthest_point_sample(X, 25, seed=0)
    from scipy.spatial.distance import cdist

    assert lm.hausdorff == pytest.approx(cdist(X, lm.points).min(axis=1).max(), rel=1e-9)
    assert len(np.unique(lm.indices)) == 25
    # greedy rule: the second landmark is the point farthest from the first
    assert lm.indices[1] == np.argmax(np.linalg.norm(X - X[lm.indices[0]], axis=1))
    # more landmarks never increase the error; all points → zero error
    assert farthest_point_sample(X, 50, seed=0).hausdorff <= lm.hausdorff
    assert farthest_point_sample(X, 200).hausdorff == 0.0
    np.testing.assert_array_equal(X, before)  # caller's array untouched


def test_nan_rejected():
    A = _acts()
    A[3, 0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        top_l2(A)
