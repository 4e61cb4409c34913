"""repscope.parallel and repscope.validation: validation, device selection, threads, and the serial / process-pool
runner."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from repscope import parallel
from repscope.errors import InputError
from repscope.parallel import (
    all_pairs,
    map_items,
    map_pairs,
    resolve_device,
    resolve_scheduler,
    use_scheduler,
)
from repscope.validation import as_2d, check_paired


def _gram_norm(X: np.ndarray, Y: np.ndarray) -> float:
    return float(np.linalg.norm(X.T @ Y))


def test_as_2d_validates_and_never_mutates():
    X = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
    A = as_2d(X)
    assert A.shape == (3, 8) and A.dtype == np.float64
    A[0, 0] = 99
    assert X[0, 0, 0] == 0
    with pytest.raises(InputError, match="reshape"):
        as_2d(np.ones(5))
    with pytest.raises(InputError, match="at least 3"):
        as_2d(np.ones((2, 3)))
    with pytest.raises(InputError, match="NaN or Inf"):
        as_2d(np.array([[1.0], [np.nan], [2.0]]))
    with pytest.raises(InputError, match="constant"):
        as_2d(np.ones((4, 2)), allow_constant=False)
    with pytest.raises(InputError, match="non-numeric"):
        as_2d(np.array([["a"], ["b"], ["c"]]))
    with pytest.raises(InputError, match="same samples"):
        check_paired(np.ones((3, 1)), np.ones((4, 1)))


def test_resolve_device_cpu_auto_env(monkeypatch):
    import torch

    monkeypatch.delenv(parallel.DEVICE_ENV, raising=False)
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(torch.device("cpu")).type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected and resolve_device("auto").type == expected
    monkeypatch.setenv(parallel.DEVICE_ENV, "cpu")
    assert resolve_device(None).type == "cpu"
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(InputError, match="not a device name"):
        resolve_device("tpu-please")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            resolve_device("cuda")
        monkeypatch.setenv(parallel.DEVICE_ENV, "cuda")
        with pytest.raises(InputError, match="CUDA is not available"):
            resolve_device(None)


def test_thread_context_managers_restore():
    import torch
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    with parallel.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with parallel.blas_threads(1):
        assert all(d["num_threads"] == 1 for d in threadpool_info() if d["user_api"] == "blas")
    assert parallel.n_cores() >= 1


def test_all_pairs():
    assert all_pairs(3) == [(0, 1), (0, 2), (1, 2)]
    assert all_pairs(2, diagonal=True) == [(0, 0), (0, 1), (1, 1)]
    assert all_pairs(2, symmetric=False) == [(0, 1), (1, 0)]
    assert len(all_pairs(4, symmetric=False, diagonal=True)) == 16
    assert all_pairs(0) == []


def test_serial_and_process_runner_agree():
    rng = np.random.default_rng(0)
    items = [rng.standard_normal((30, d)) for d in (2, 3, 4, 5)]
    pairs = all_pairs(4, symmetric=False, diagonal=True)
    expected = [_gram_norm(items[i], items[j]) for i, j in pairs]
    assert map_pairs(_gram_norm, items, pairs) == expected
    assert map_pairs(_gram_norm, items, pairs, scheduler="serial", n_workers=4) == expected
    got = map_pairs(_gram_norm, items, pairs, n_workers=2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    norm = functools.partial(np.linalg.norm, ord="fro")  # partials of module-level functions pickle
    norms = map_items(norm, items, scheduler="processes", n_workers=2, progress=True)
    np.testing.assert_allclose(norms, [np.linalg.norm(x) for x in items], rtol=0, atol=1e-12)
    assert map_items(abs, []) == [] and map_pairs(_gram_norm, items, []) == []


def test_runner_errors_propagate_without_partial_result():
    def boom(x):
        if x == 2:
            raise ValueError("bad item 2")
        return x

    with pytest.raises(ValueError, match="bad item 2"):
        map_items(boom, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="invalid literal"):
        map_items(int, ["1", "x", "3"], scheduler="processes", n_workers=2)
    with pytest.raises(InputError, match="does not index"):
        map_pairs(_gram_norm, [np.ones((3, 1))], [(0, 1)])


def test_scheduler_resolution(monkeypatch):
    monkeypatch.delenv(parallel.SCHEDULER_ENV, raising=False)
    monkeypatch.delenv("REPSCOPE_IN_WORKER", raising=False)
    assert resolve_scheduler(None, 1) == "serial"
    assert resolve_scheduler(None, 4) == "processes"
    assert resolve_scheduler("synchronous", 4) == "serial"
    assert resolve_scheduler("local:3") == "local:3"
    with use_scheduler("processes"):
        assert resolve_scheduler(None, 1) == "processes"
        assert resolve_scheduler("serial", 1) == "serial"  # an explicit argument wins
    assert resolve_scheduler(None, 1) == "serial"
    monkeypatch.setenv(parallel.SCHEDULER_ENV, "tcp://10.0.0.1:8786")
    assert resolve_scheduler(None, 1) == "tcp://10.0.0.1:8786"
    monkeypatch.setenv("REPSCOPE_IN_WORKER", "1")
    assert resolve_scheduler(None, 1) == "serial"
    monkeypatch.setenv(parallel.SCHEDULER_ENV, "nonsense")
    monkeypatch.delenv("REPSCOPE_IN_WORKER")
    with pytest.raises(InputError, match="not understood"):
        map_items(abs, [1])
    with pytest.raises(InputError, match="not understood"):
        resolve_scheduler(object())
