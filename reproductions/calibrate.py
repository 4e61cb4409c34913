"""Print the verdict rule's simulated false-"reproduced" rate (true mean 0) and power (mean +0.5 and +1 sd)
for every null distribution of repscope.experiments.verdict.NULL_DISTRIBUTIONS.

    python reproductions/calibrate.py [--reps 4000]
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from repscope.experiments.verdict import ALPHA, MIN_SEEDS, NULL_DISTRIBUTIONS, simulate_rule

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=4000)
    a = ap.parse_args(argv)
    ns = (5, MIN_SEEDS, 20)
    print(f"one-sided alpha {ALPHA}, verdicts from n = {MIN_SEEDS}; {a.reps} simulated claims per cell")
    print(f"{'distribution':42s}" + "".join(f"  FP n={n:<3d}" for n in ns))
    for d in NULL_DISTRIBUTIONS:
        print(f"{d:42s}" + "".join(f"  {simulate_rule(n, d, reps=a.reps, seed=7):8.3f}" for n in ns))
    for shift in (0.5, 1.0):
        print(f"{f'power, normal, mean +{shift} sd':42s}"
              + "".join(f"  {simulate_rule(n, 'normal', shift=shift, reps=a.reps, seed=8):8.3f}" for n in ns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
