"""Settings the CLI's experiment commands build: the ranges benchmark's configuration and the reproductions'
seed check."""

from __future__ import annotations

import pytest

from repscope.errors import InputError
from repscope.experiments.ranges.benchmark import BenchmarkConfig, benchmark_config, fast_config
from repscope.experiments.verdict import reproduce


def test_benchmark_config_seeds_and_datasets():
    assert benchmark_config(n_seeds=3, first_seed=7).seeds == (7, 8, 9)
    fast = benchmark_config(fast=True, first_seed=10)
    assert fast.seeds == tuple(10 + s for s in fast_config().seeds)
    cfg = benchmark_config(fast=True, datasets=("dsprites_lite",))
    assert cfg.datasets == ("dsprites_lite",)
    assert cfg.biases["dsprites_lite"] == BenchmarkConfig().biases["dsprites_lite"][1:2]  # the middle strength
    with pytest.raises(InputError, match="at least 1"):
        benchmark_config(n_seeds=0)


def test_reproduce_refuses_too_few_seeds():
    with pytest.raises(InputError, match="at least 2"):
        reproduce("ranges", seeds=1)
