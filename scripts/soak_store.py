"""Store fault soak: many kill -9 points with resume, random chunk damage × every reader, disk full on tmpfs.

    PYTHONPATH=src python scripts/soak_store.py [--kills 40] [--damage 80] [--seed 0] [--out soak.json]

Each case is *held* when the outcome is the promised one:

* kill: a capture killed (SIGKILL) at an internal step or a random instant, then re-run with the same
  command, yields a store equal to an uninterrupted capture (every layer's rows, labels, ids, attributes
  bit for bit) and ``verify`` finds no damage;
* damage: one chunk of one array deleted / bit-flipped / truncated / zeroed / torn metadata → the API
  read of that array raises ``StoreError`` naming it (never zeros, garbage or a crash — each reader runs in
  a subprocess so a segfault would count as a failure), other arrays still read exactly, ``verify`` lists
  it;
* disk full (needs root to mount a 20 MiB tmpfs): the capture stops with a StoreError/clean error, the
  committed prefix reads back exactly, and after the disk is enlarged the same command completes to the
  uninterrupted result.

Prints a summary and writes the per-case outcomes as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHILD = ROOT / "tests" / "store" / "_capture_child.py"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def run_plan(work: pathlib.Path, plan: list[dict]) -> list[int]:
    f = work / f"plan-{time.time_ns()}.json"
    f.write_text(json.dumps(plan))
    out = subprocess.run([sys.executable, str(CHILD), str(f)], capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return [r["status"] for r in json.loads(out.stdout.strip().splitlines()[-1])]


def same_store(a_path: pathlib.Path, b_path: pathlib.Path) -> str | None:
    import repscope as rs

    try:
        a, b = rs.open_store(a_path), rs.open_store(b_path)
        if a.layers != b.layers or a.n_samples != b.n_samples:
            return "layers/rows differ"
        for layer in a.layers:
            if not np.array_equal(a.read(layer), b.read(layer)):
                return f"layer {layer} differs"
        if not np.array_equal(a.labels, b.labels) or not np.array_equal(a.sample_ids, b.sample_ids):
            return "labels/ids differ"
        if any(not np.array_equal(a.attributes[k], b.attributes[k]) for k in b.attributes):
            return "attributes differ"
        if not a.verify().ok:
            return "verify found damage"
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    return None


# --------------------------------------------------------------------------------------------- kills

POINTS = ["lock:1", "save_meta:1", "save_meta:2", "commit:1", "commit:2", "commit:4", "commit:9", "create_array:1",
          "create_array:2", "create_array:4", "create_array:6", "chunk:1", "chunk:3", "chunk:7", "chunk:20",
          "chunk:40", "finish:1"]


def soak_kills(work: pathlib.Path, n_random: int, rng: np.random.Generator) -> list[dict]:
    ref = work / "ref.zarr"
    ref_slow = work / "ref_slow.zarr"
    plan = [{"out": str(ref), "kill": "none"}, {"out": str(ref_slow), "kill": "none", "slow": True}]
    cases = []
    for i, p in enumerate(POINTS):
        out = str(work / f"p{i}.zarr")
        cases.append({"kind": "kill", "point": p, "out": out, "ref": str(ref)})
        plan += [{"out": out, "kill": p}, {"out": out, "kill": "none"}]
    for i in range(n_random):
        out = str(work / f"r{i}.zarr")
        d = float(rng.uniform(0.0, 0.5))
        cases.append({"kind": "kill", "point": f"after {d:.3f} s", "out": out, "ref": str(ref_slow)})
        plan += [{"out": out, "kill": "none", "slow": True, "delay": d},
                 {"out": out, "kill": "none", "slow": True}]
    status = run_plan(work, plan)
    for k, c in enumerate(cases):
        killed, resumed = status[2 + 2 * k], status[3 + 2 * k]
        why = same_store(pathlib.Path(c["out"]), pathlib.Path(c["ref"])) if resumed == 0 else f"re-run exit {resumed}"
        c.update(killed=killed, held=why is None, why=why)
    return cases


# -------------------------------------------------------------------------------------------- damage

READER = r"""
import sys, json, numpy as np, repscope as rs
from repscope.errors import StoreError
path, target = sys.argv[1], sys.argv[2]
out = {}
try:
    st = rs.open_store(path)
    if target.startswith("layers/"):
        layer = [n for n in st.layers if st.layer_info(n)["key"] == target.split("/")[1]][0]
        val = st.read(layer)
    elif target == "labels":
        val = st.labels
    elif target == "sample_ids":
        val = st.sample_ids
    else:
        val = st.attributes
    out["result"] = "read without error"
except StoreError as exc:
    out["result"] = "StoreError"
    out["message"] = str(exc)
print(json.dumps(out))
"""


def _damage_file(f: pathlib.Path, kind: str, rng: np.random.Generator) -> None:
    b = bytearray(f.read_bytes())
    if kind == "delete":
        f.unlink()
    elif kind == "flip":
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(0, len(b)))
            b[i] ^= 1 << int(rng.integers(0, 8))
        f.write_bytes(bytes(b))
    elif kind == "truncate":
        f.write_bytes(bytes(b[: int(rng.integers(0, len(b)))]))
    elif kind == "zero":
        f.write_bytes(bytes(len(b)))
    elif kind == "meta":
        f.write_bytes(bytes(b[: int(rng.integers(0, len(b)))]))


def soak_damage(work: pathlib.Path, n: int, rng: np.random.Generator) -> list[dict]:
    import repscope as rs
    from repscope.store import verify_store

    pristine = work / "ref.zarr"
    arrays = [*(f"layers/{p.name}" for p in sorted((pristine / "layers").iterdir()) if p.is_dir()),
              "labels", "sample_ids", *(f"attributes/{p.name}" for p in sorted((pristine / "attributes").iterdir())
                                        if p.is_dir())]
    ref = rs.open_store(pristine)
    cases = []
    for i in range(n):
        arr = arrays[int(rng.integers(0, len(arrays)))]
        kind = ["delete", "flip", "truncate", "zero", "meta"][int(rng.integers(0, 5))]
        dst = work / f"d{i}.zarr"
        shutil.copytree(pristine, dst)
        if kind == "meta":
            f = dst / arr / "zarr.json"
        else:
            files = sorted(p for p in (dst / arr / "c").rglob("*") if p.is_file())
            f = files[int(rng.integers(0, len(files)))]
        _damage_file(f, kind, rng)
        proc = subprocess.run([sys.executable, "-c", READER, str(dst), arr], capture_output=True, text=True, env=ENV)
        case = {"kind": "damage", "array": arr, "damage": kind, "file": str(f.relative_to(dst))}
        why = None
        if proc.returncode != 0:
            why = f"reader exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:] }"
        else:
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            if res["result"] != "StoreError":
                why = "damage not detected"
            elif "damaged" not in res["message"] and "corrupt" not in res["message"] and \
                    "cannot be opened" not in res["message"]:
                why = f"unclear message: {res['message']}"
        if why is None:  # every other array of the damaged store still reads exactly (API, no subprocess needed)
            try:
                st = rs.open_store(dst, allow_incomplete=True) if kind != "delete" and kind != "meta" else None
                if st is not None:
                    for layer in st.layers:
                        if f"layers/{st.layer_info(layer)['key']}" != arr:
                            assert np.array_equal(st.read(layer), ref.read(layer))
            except rs.StoreError:
                pass  # opening may rightly refuse (structural check); the damaged array was named above
            except AssertionError:
                why = "an undamaged layer changed"
            if kind != "meta" and why is None and verify_store(dst).ok:
                why = "verify did not list the damage"
        case.update(held=why is None, why=why)
        cases.append(case)
        shutil.rmtree(dst)
    return cases


# ------------------------------------------------------------------------------------------ disk full

DISK_FULL = r"""
import sys, numpy as np, torch, repscope as rs
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(16, 512), torch.nn.ReLU())
X = np.random.default_rng(0).standard_normal((12000, 16)).astype(np.float32)
try:
    rs.capture(model, X, ["0", "1"], sys.argv[1], batch_size=500, chunk_rows=500, progress=False,
               labels=np.arange(12000) % 7)
    print("COMPLETE")
except rs.RepscopeError as exc:
    print("REPSCOPEERROR", exc)
except OSError as exc:
    print("OSERROR", exc)
"""


def soak_disk_full(work: pathlib.Path) -> list[dict]:
    mnt = work / "tmpfs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)], capture_output=True).returncode:
        return [{"kind": "disk_full", "held": None, "why": "tmpfs could not be mounted (not root?)"}]
    try:
        store = mnt / "s.zarr"
        first = subprocess.run([sys.executable, "-c", DISK_FULL, str(store)], capture_output=True, text=True, env=ENV)
        out1 = first.stdout.strip()
        case = {"kind": "disk_full", "first_run": out1[:300], "exit": first.returncode}
        why = None
        if first.returncode != 0 or not (out1.startswith("REPSCOPEERROR") or out1.startswith("OSERROR")):
            why = f"first run: exit {first.returncode}, {out1[:200]} {first.stderr[-300:]}"
        import repscope as rs

        if why is None:
            part = rs.open_store(store, allow_incomplete=True)
            case["committed_when_full"] = part.n_samples
            if not part.verify().ok:
                why = "committed prefix damaged"
        subprocess.run(["mount", "-o", "remount,size=200m", str(mnt)], check=True)
        second = subprocess.run([sys.executable, "-c", DISK_FULL, str(store)], capture_output=True, text=True,
                                env=ENV)
        ref = work / "disk_ref.zarr"
        subprocess.run([sys.executable, "-c", DISK_FULL, str(ref)], capture_output=True, text=True, env=ENV)
        if why is None and "COMPLETE" not in second.stdout:
            why = f"resume after freeing space: {second.stdout[:200]} {second.stderr[-300:]}"
        if why is None:
            why = same_store(store, ref)
        case.update(held=why is None, why=why)
        return [case]
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=40, help="random-instant kills (besides the fixed points)")
    ap.add_argument("--damage", type=int, default=80, help="random chunk/metadata damage cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=pathlib.Path, default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="repscope-soak-") as d:
        work = pathlib.Path(d)
        cases = soak_kills(work, args.kills, rng)
        cases += soak_damage(work, args.damage, rng)
        cases += soak_disk_full(work)
    groups: dict[str, list[dict]] = {}
    for c in cases:
        groups.setdefault(c["kind"], []).append(c)
    lines = []
    for kind, cs in groups.items():
        tried = [c for c in cs if c["held"] is not None]
        held = sum(bool(c["held"]) for c in tried)
        lines.append(f"{kind:10s} tried {len(tried):4d}  held {held:4d}")
        for c in tried:
            if not c["held"]:
                lines.append(f"    FAILED {c}")
    total = [c for c in cases if c["held"] is not None]
    lines.append(f"{'total':10s} tried {len(total):4d}  held {sum(bool(c['held']) for c in total):4d}  "
                 f"({time.time() - t0:.0f} s)")
    print("\n".join(lines))
    if args.out:
        args.out.write_text(json.dumps(cases, indent=1, default=str))


if __name__ == "__main__":
    main()
