"""Mitigation benchmark for repscope.ranges: ERM vs last-layer retraining variants.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/ranges_mitigation.py [--fast] [--workers 2] \
        [--json out.json]

Prints worst-group and mean test accuracy (mean ± std over seeds) per method, dataset and bias strength,
plus the share of the minority group in the mid band vs the top 5 % of the ERM logits.
Same code path as ``repscope ranges benchmark``.
"""

from __future__ import annotations

import argparse
import json
import sys

from repscope.experiments.ranges.benchmark import BenchmarkConfig, fast_config, run_benchmark
from repscope.results import dumps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="small configuration (1 dataset, 1 bias, 2 seeds)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    ap.add_argument("--json", default=None, help="also write the full result as JSON to this path")
    args = ap.parse_args(argv)
    cfg = fast_config() if args.fast else BenchmarkConfig(seeds=tuple(range(args.seeds)))
    res = run_benchmark(cfg, n_workers=args.workers, progress=sys.stderr.isatty())
    print(res.format())
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(dumps(res.to_dict()))
        json.loads(open(args.json).read())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
