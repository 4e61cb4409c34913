"""Fault-injection driver: runs captures in forked processes and kills them (SIGKILL) at chosen instants.

Usage: ``python _capture_child.py PLAN.json`` → prints one JSON line ``[{"status": ...}, ...]``.

A plan is a list of runs executed in order, each in a fresh ``fork()`` (torch and repscope are imported
once here; the parent never touches zarr, so forking is safe). A run is
``{"out": PATH, "kill": SPEC, "variant": {...}, "delay": seconds|null, "slow": bool}``:

* ``kill``: ``"none"``; ``"<point>:<k>"`` kills the process with SIGKILL *just before* the k-th call (1-based)
  of an internal step — ``lock`` (after taking the writer lock), ``save_meta`` (root metadata writes),
  ``create_array`` (array creation), ``commit`` (progress.json replacements; the first one records 0
  rows), ``chunk`` (an array write or a direct layer-chunk file write by the writer's threads),
  ``finish`` (the final commit);
* ``delay``: instead, the parent kills the run after that many seconds (a random instant);
* ``variant``: ``weights_seed``, ``data_seed``, ``label_shift`` change the model, inputs or labels (a resume
  with any of them different must be refused).

The data: 150 samples of 8 features, a 3-layer MLP, layers "0", "1", "2", labels, ids 1000 + 7·i, two
attributes (an integer and a string one); batches of 7 rows, chunks of 16.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np
import torch
import zarr  # noqa: F401  (imported once here, before forking; its event loop starts lazily in each run)

import repscope as rs
from repscope.store import core as store_core
from repscope.store import integrity

N = 150


def build(variant: dict) -> tuple:
    torch.manual_seed(int(variant.get("weights_seed", 0)))
    model = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    X = np.random.default_rng(int(variant.get("data_seed", 1))).standard_normal((N, 8)).astype(np.float32)
    y = (np.arange(N) + int(variant.get("label_shift", 0))) % 3
    ids = 1000 + 7 * np.arange(N)
    attrs = {"k": np.arange(N) % 5, "tag": np.array(["even", "odd"])[np.arange(N) % 2]}
    return model, X, y, ids, attrs


class _Slow(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module, pause: float) -> None:
        super().__init__()
        self.inner, self.pause = inner, pause

    def forward(self, x):
        time.sleep(self.pause)
        return self.inner(x)


def _arm(kill: str) -> None:
    """Patch one internal step so the process dies (SIGKILL: nothing runs after) before its k-th call."""
    if kill == "none":
        return
    point, k = kill.split(":")
    k = int(k)
    calls = {"n": 0}

    def maybe_die() -> None:
        calls["n"] += 1
        if calls["n"] == k:
            os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner, name, before=True):
        orig = getattr(owner, name)

        def patched(*a, **kw):
            if before:
                maybe_die()
            out = orig(*a, **kw)
            if not before:
                maybe_die()
            return out

        setattr(owner, name, patched)

    if point == "lock":
        wrap(integrity.WriterLock, "acquire", before=False)
    elif point == "save_meta":
        wrap(store_core.StoreWriter, "_save_meta")
    elif point == "create_array":
        import zarr

        wrap(zarr.Group, "create_array")
    elif point == "commit":
        wrap(store_core, "_atomic_write_json")
    elif point == "chunk":
        import zarr

        wrap(zarr.Array, "__setitem__")  # sample ids, labels, attributes (and layers zarr writes itself)
        wrap(store_core, "_write_chunk_file")  # layer chunks written directly
    elif point == "finish":
        orig = store_core.StoreWriter._commit

        def commit(self, rows, *, complete, error=None):
            if complete:
                maybe_die()
            return orig(self, rows, complete=complete, error=error)

        store_core.StoreWriter._commit = commit
    else:
        raise SystemExit(f"unknown kill point {point!r}")


def run_one(spec: dict) -> None:
    _arm(spec.get("kill", "none"))
    model, X, y, ids, attrs = build(spec.get("variant", {}))
    if spec.get("slow"):
        model = _Slow(model, 0.01)
        layers = ["inner.0", "inner.1", "inner.2"]
    else:
        layers = ["0", "1", "2"]
    try:
        rs.capture(model, X, layers, spec["out"], labels=y, ids=ids, attributes=attrs, batch_size=7,
                   chunk_rows=16, progress=False, overwrite=bool(spec.get("overwrite")))
    except rs.RepscopeError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        os._exit(2)
    os._exit(0)


def main() -> None:
    plan = json.loads(open(sys.argv[1]).read())
    results = []
    for spec in plan:
        pid = os.fork()
        if pid == 0:  # child
            try:
                run_one(spec)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(3)
        if spec.get("delay") is not None:
            time.sleep(float(spec["delay"]))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            results.append({"status": -os.WTERMSIG(status)})
        else:
            results.append({"status": os.WEXITSTATUS(status)})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
