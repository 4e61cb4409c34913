"""Run one reproduction and write its JSON artifact (tables, per-seed values, configuration, environment).

    python reproductions/run.py descramble --quick            # → reproductions/quick/descramble.json
    python reproductions/run.py dynamics --part guilhot       # → reproductions/full/dynamics-guilhot.json
    python reproductions/run.py dynamics --part attractors    # → reproductions/full/dynamics-attractors.json

A run of some parts only (``--part``) writes its own file, so that parts run apart (the full Guilhot design takes
hours) sit beside each other, each with its command, wall time and environment.

Then ``python reproductions/render.py`` rewrites the tables in reproductions/README.md from every JSON file.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    from repscope.experiments.verdict import REPRODUCTIONS, environment, reproduction_payload, run_reproduction
    from repscope.results import dumps

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("key", choices=sorted(REPRODUCTIONS))
    ap.add_argument("--quick", action="store_true", help="the quick design (default: full)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds (default: the design's)")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--part", action="append", default=None, metavar="PART",
                    help="dynamics only: run only this part (guilhot, attractors; repeatable)")
    ap.add_argument("--archs", default=None, metavar="A,B",
                    help="dynamics only: the Guilhot architectures to train (default: the design's, rnn,gru)")
    ap.add_argument("--out", type=pathlib.Path, default=None,
                    help="JSON path (default: reproductions/<mode>/<key>.json, <key>-<part>.json with --part)")
    a = ap.parse_args(argv)
    mode = "quick" if a.quick else "full"
    env = environment()  # the source tree the run starts from
    t0 = time.perf_counter()
    if a.part and a.key != "dynamics":
        ap.error("--part applies to the dynamics reproduction only")
    if a.archs and a.key != "dynamics":
        ap.error("--archs applies to the dynamics reproduction only")
    kw: dict = {"parts": tuple(a.part)} if a.part else {}
    if a.archs:
        kw["config"] = {"archs": tuple(x.strip() for x in a.archs.split(",") if x.strip())}
    res = run_reproduction(a.key, quick=a.quick, seeds=a.seeds, seed=a.seed, progress=False, **kw)
    payload = reproduction_payload(res, mode=mode, env=env)
    payload["wall_s"] = time.perf_counter() - t0
    payload["command"] = f"python reproductions/run.py {a.key}" + (" --quick" if a.quick else "") + (
        f" --seeds {a.seeds}" if a.seeds else "") + "".join(f" --part {p}" for p in a.part or ()) + (
        f" --archs {a.archs}" if a.archs else "")
    out = a.out or HERE / mode / (f"{a.key}-{'-'.join(a.part)}.json" if a.part else f"{a.key}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dumps(payload) + "\n")
    print(f"wrote {out} ({payload['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
