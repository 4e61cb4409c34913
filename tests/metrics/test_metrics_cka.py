"""CKA family: closed forms, invariances, agreement with the literal Gram-matrix formulas, peer bugs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from repscope.errors import InputError
from repscope.metrics import MinibatchCKA, debiased_cka, linear_cka, minibatch_cka, rbf_cka
from repscope.metrics.cka import (
    center_gram,
    cka_from_grams,
    gram_linear,
    gram_rbf,
    hsic_biased,
    hsic_unbiased,
)


def _pair(n=80, p=12, q=9, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, q)) + noise * rng.standard_normal((n, q))
    return X, Y


def test_identical_and_rotated_scaled_give_one():
    X, _ = _pair()
    Q = ortho_group.rvs(X.shape[1], random_state=1)
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-14)
    assert linear_cka(X, 3.7 * X @ Q + 2.0) == pytest.approx(1.0, abs=1e-13)
    assert debiased_cka(X, -0.5 * X @ Q) == pytest.approx(1.0, abs=1e-13)
    assert rbf_cka(X, X @ Q) == pytest.approx(1.0, abs=1e-12)


def test_permutation_invariance():
    X, Y = _pair()
    rng = np.random.default_rng(3)
    fp, sp = rng.permutation(Y.shape[1]), rng.permutation(X.shape[0])
    v = linear_cka(X, Y)
    assert linear_cka(X, Y[:, fp]) == pytest.approx(v, abs=1e-13)
    assert linear_cka(X[sp], Y[sp]) == pytest.approx(v, abs=1e-13)
    assert debiased_cka(X[sp], Y[sp][:, fp]) == pytest.approx(debiased_cka(X, Y), abs=1e-13)


def test_feature_form_equals_gram_form():
    X, Y = _pair(n=60, p=10, q=7)
    K, L = gram_linear(X), gram_linear(Y)
    assert linear_cka(X, Y) == pytest.approx(cka_from_grams(K, L), abs=1e-12)
    # also through biased HSIC normalised by hand: tr(KHLH)/sqrt(tr(KHKH) tr(LHLH))
    ref = hsic_biased(K, L) / np.sqrt(hsic_biased(K, K) * hsic_biased(L, L))
    assert linear_cka(X, Y) == pytest.approx(ref, abs=1e-12)
    # the Gram path (n < p) gives the same value
    Xw, Yw = _pair(n=20, p=40, q=30)
    assert linear_cka(Xw, Yw) == pytest.approx(cka_from_grams(gram_linear(Xw), gram_linear(Yw)), abs=1e-12)


def test_debiased_equals_song_unbiased_hsic_written_out():
    X, Y = _pair(n=40, p=6, q=5, seed=2)
    K, L = gram_linear(X), gram_linear(Y)  # raw (uncentred) Gram: HSIC1 is shift invariant
    ref = hsic_unbiased(K, L) / np.sqrt(hsic_unbiased(K, K) * hsic_unbiased(L, L))
    assert debiased_cka(X, Y) == pytest.approx(ref, abs=1e-10)
    assert cka_from_grams(K, L, debiased=True) == pytest.approx(ref, abs=1e-10)
    # U-centring identity: <U(K), U(L)> = n(n-3) HSIC1
    n = X.shape[0]
    assert np.vdot(center_gram(K, True), center_gram(L, True)) == pytest.approx(
        n * (n - 3) * hsic_unbiased(K, L)
    )


def test_debiased_uses_unbiased_self_hsic_not_biased():
    """repsim divides the unbiased cross-HSIC by *biased* self-HSICs; ours must not."""
    X, Y = _pair(n=50, p=8, q=8, seed=4, noise=2.0)
    K, L = gram_linear(X), gram_linear(Y)
    ours = debiased_cka(X, Y)
    buggy = hsic_unbiased(K, L) / np.sqrt(hsic_biased(K, K) * hsic_biased(L, L))
    assert ours == pytest.approx(hsic_unbiased(K, L) / np.sqrt(hsic_unbiased(K, K) * hsic_unbiased(L, L)))
    assert abs(ours - buggy) > 0.05


def test_independent_gaussians_biased_shrinks_debiased_near_zero():
    rng = np.random.default_rng(5)
    vals = []
    for n in (100, 1600):
        X, Y = rng.standard_normal((n, 30)), rng.standard_normal((n, 30))
        vals.append((linear_cka(X, Y), debiased_cka(X, Y)))
    (b_small, d_small), (b_large, d_large) = vals
    assert b_small > 0.15 and b_large < b_small / 4  # biased CKA ~ p/(n) for independent data
    assert abs(d_small) < 0.05 and abs(d_large) < 0.01


def test_large_mean_offset_costs_no_precision():
    """torch-cka never centres (float32): an offset of a few std cost it 1.7e-2. Ours is exact."""
    X, Y = _pair(n=200, p=16, q=10, seed=6)
    v = linear_cka(X, Y)
    for off in (5.0, 1e4):
        assert linear_cka(X + off, Y - off) == pytest.approx(v, abs=1e-9)
        assert debiased_cka(X + off, Y) == pytest.approx(debiased_cka(X, Y), abs=1e-9)
    X32 = (X + 5.0).astype(np.float32)
    assert linear_cka(X32, Y) == pytest.approx(linear_cka(X32.astype(np.float64), Y), abs=1e-14)


def test_minibatch_cka_equals_formula():
    X, Y = _pair(n=90, p=7, q=6, seed=7)
    batches = [slice(0, 30), slice(30, 60), slice(60, 90)]
    acc = MinibatchCKA()
    num = kk = ll = 0.0
    for b in batches:
        acc.update(X[b], Y[b])
        K, L = gram_linear(X[b]), gram_linear(Y[b])
        num += hsic_unbiased(K, L)
        kk += hsic_unbiased(K, K)
        ll += hsic_unbiased(L, L)
    assert acc.n_batches_ == 3 and acc.n_samples_ == 90
    assert acc.value == pytest.approx(num / np.sqrt(kk * ll), abs=1e-10)
    assert minibatch_cka(X, Y, batch_size=90, seed=None) == pytest.approx(debiased_cka(X, Y), abs=1e-12)
    assert minibatch_cka(X, Y, batch_size=30, seed=None) == pytest.approx(acc.value, abs=1e-12)
    with pytest.raises(InputError):
        MinibatchCKA().value  # noqa: B018


def test_rbf_cka_matches_kornblith_formula():
    X, Y = _pair(n=50, p=5, q=4, seed=8)
    for sigma in (0.5, 1.0, 2.0):

        def gram(A, sigma=sigma):
            D = ((A[:, None, :] - A[None, :, :]) ** 2).sum(-1)
            return np.exp(-D / (2 * sigma**2 * np.median(D)))

        K, L = gram(X), gram(Y)
        assert np.allclose(gram_rbf(X, sigma), K, atol=1e-12)
        Kc, Lc = center_gram(K), center_gram(L)
        ref = np.vdot(Kc, Lc) / np.sqrt(np.vdot(Kc, Kc) * np.vdot(Lc, Lc))
        assert rbf_cka(X, Y, sigma) == pytest.approx(ref, abs=1e-12)
    with pytest.raises(InputError, match="sigma"):
        rbf_cka(X, Y, sigma=0)


@pytest.mark.parametrize(
    "X, Y, match",
    [
        (np.ones((10, 3)), np.random.default_rng(0).standard_normal((10, 3)), "constant"),
        (
            np.random.default_rng(0).standard_normal((10, 3)),
            np.random.default_rng(1).standard_normal((9, 3)),
            "samples",
        ),
        (
            np.random.default_rng(0).standard_normal(10),
            np.random.default_rng(1).standard_normal((10, 3)),
            "shape",
        ),
        (np.full((10, 3), np.nan), np.random.default_rng(1).standard_normal((10, 3)), "NaN"),
        (
            np.random.default_rng(0).standard_normal((2, 3)),
            np.random.default_rng(1).standard_normal((2, 3)),
            "at least",
        ),
    ],
)
def test_bad_inputs_raise_clear_errors(X, Y, match):
    with pytest.raises(InputError, match=match):
        linear_cka(X, Y)


def test_inputs_not_mutated_and_nd_flattened():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((30, 2, 3, 2)).astype(np.float32)
    Y = rng.standard_normal((30, 5))
    Xc, Yc = X.copy(), Y.copy()
    v = linear_cka(X, Y)
    assert np.array_equal(X, Xc) and np.array_equal(Y, Yc)
    assert v == pytest.approx(linear_cka(X.reshape(30, -1), Y))
    with pytest.raises(InputError, match="at least 4"):
        debiased_cka(X[:3], Y[:3])
