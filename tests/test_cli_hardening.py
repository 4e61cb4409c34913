"""The CLI under faults and bad input: damaged stores (every reading command: exit 2, one line), every numeric
option's bad values, OSError on paths, pickled .npy, path-traversal layer names, pure --json stdout,
Ctrl-C / SIGTERM during capture."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

import repscope as rs
from repscope.cli import main

SRC = str(pathlib.Path(rs.__file__).parents[1])


def _env(extra_path: str | None = None) -> dict[str, str]:
    paths = [SRC, *([extra_path] if extra_path else []), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "COLUMNS": "200"}


def cli(*args: str, cwd=None, extra_path=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "repscope.cli", *map(str, args)], capture_output=True, text=True,
                          env=_env(extra_path), cwd=cwd, timeout=timeout)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("repscope: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 3))
    X = np.random.default_rng(0).standard_normal((120, 12)).astype(np.float32)
    path = tmp_path_factory.mktemp("cli") / "s.zarr"
    rs.capture(model, X, ["0", "2", "4"], path, labels=np.arange(120) % 3,
               attributes={"colour": np.arange(120) % 2}, chunk_rows=16, progress=False)
    return path


def _damaged(src: pathlib.Path, dst: pathlib.Path, layer_key: str, kind: str) -> pathlib.Path:
    shutil.copytree(src, dst)
    f = dst / "layers" / layer_key / "c" / "2" / "0"
    b = f.read_bytes()
    if kind == "flip":
        bb = bytearray(b)
        for k in range(8):
            bb[(k * 37 + 20) % len(bb)] ^= 0xFF
        f.write_bytes(bytes(bb))
    elif kind == "truncate":
        f.write_bytes(b[: len(b) // 2])
    elif kind == "meta":  # the array's metadata torn mid-write
        meta = dst / "layers" / layer_key / "zarr.json"
        meta.write_text(meta.read_text()[:40])
    else:
        f.unlink()
    return dst


#: (command, layer it reads [store key], damage) — truncation for the commands that used to segfault
READERS = [
    (["compare", "{s}", "--quiet"], "L001", "delete"),
    (["compare", "{s}", "--quiet", "--metric", "procrustes"], "L001", "flip"),
    (["descramble", "{s}", "--layer", "2", "--quiet"], "L001", "flip"),
    (["descramble", "{s}", "--layer", "2", "--quiet"], "L001", "truncate"),
    (["ranges", "analyse", "{s}", "--unit", "2:0", "--quiet", "--permutations", "19"], "L001", "flip"),
    (["topology", "{s}", "--quiet", "--n-samples", "40"], "L001", "flip"),
    (["report", "{s}", "--quick", "--quiet", "--out", "{o}"], "L001", "truncate"),
    (["cluster", "layer-matrix", "{s}", "--quiet"], "L001", "truncate"),
    (["info", "{s}"], "L000", "delete"),
    (["compare", "{s}", "--quiet"], "L001", "meta"),
]


def test_every_reading_command_refuses_a_damaged_store_in_one_line(small_store, tmp_path):
    jobs = []
    for i, (cmd, key, kind) in enumerate(READERS):
        s = _damaged(small_store, tmp_path / f"d{i}.zarr", key, kind)
        jobs.append([c.format(s=s, o=tmp_path / f"out{i}") for c in cmd])
    with ThreadPoolExecutor(2) as ex:
        procs = list(ex.map(lambda a: cli(*a), jobs))
    for (cmd, key, kind), proc in zip(READERS, procs):
        line = one_error_line(proc)
        if kind == "meta":
            assert "layer '2' cannot be opened" in line and "--overwrite" in line, line
            continue
        assert "damaged" in line and ("rows 32–47" in line or "checksum" in line), (cmd, line)
        if cmd[0] != "cluster":  # that one reads through dask outside repscope.store (see the report)
            assert f"layer '{'2' if key == 'L001' else '0'}'" in line and "rows 32–47" in line, (cmd, line)
    ver = cli("verify", tmp_path / "d0.zarr")
    assert ver.returncode == 2 and "rows 32–47" in ver.stderr and "chunk file missing" not in ver.stdout


# --------------------------------------------------------------------------------- option validation


def _numeric_options():
    import typer.main as tm

    from repscope.cli import app

    out = []

    def walk(c, path):
        if hasattr(c, "commands"):
            for n, sub in c.commands.items():
                walk(sub, [*path, n])
            return
        required = []
        for p in c.params:
            if p.required:
                required += ["dummy"] if p.param_type_name == "argument" else [p.opts[0], "x"]
        for p in c.params:
            typ = {"int": int, "float": float}.get(str(p.bare_type()))
            if p.param_type_name == "option" and typ is not None:
                out.append((path, p.opts[0], p.min, p.max, required, typ))

    walk(tm.get_command(app), [])
    return out


NUMERIC = _numeric_options()


def test_every_numeric_option_declares_its_valid_range():
    unbounded = [(" ".join(path), opt) for path, opt, lo, hi, _, _ in NUMERIC if lo is None and hi is None]
    assert not unbounded, f"numeric options without a range: {unbounded}"
    assert len(NUMERIC) >= 25


@pytest.mark.parametrize(("path", "opt", "lo", "hi", "required", "typ"), NUMERIC,
                         ids=[f"{' '.join(p)} {o}" for p, o, *_ in NUMERIC])
def test_bad_numeric_option_values_are_one_line_errors_naming_the_option(path, opt, lo, hi, required, typ, capsys):
    bad = ["abc"]
    if lo is not None:
        bad.append(str(lo - 1) if typ is int else str(lo - 0.5))
    if hi is not None:
        bad.append(str(hi + 1))
    for value in bad:
        with pytest.raises(SystemExit) as ei:
            main([*path, *required, opt, value])
        err = capsys.readouterr().err.strip().splitlines()
        assert ei.value.code == 2 and len(err) == 1, err
        assert err[0].startswith("repscope: error: ") and f"'{opt}'" in err[0], err


def test_subprocess_bad_values_from_the_issue(small_store):
    for args, opt in [(["descramble", small_store, "--layer", "2", "--block-rows", "0"], "--block-rows"),
                      (["topology", small_store, "--workers", "0"], "--workers")]:
        assert f"'{opt}'" in one_error_line(cli(*args))


# ------------------------------------------------------------------------------ paths and input files


def run_main(capsys, *args) -> tuple[int, list[str]]:
    """The CLI in-process (same entry point as ``python -m repscope.cli``): exit code, stderr lines."""
    with pytest.raises(SystemExit) as ei:
        main([str(a) for a in args])
        raise SystemExit(0)
    return ei.value.code, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def test_output_and_input_path_errors_are_one_line(small_store, tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    cases = [
        (["compare", small_store, "--quiet", "--out", a_file], "file.txt"),  # --out is an existing file
        (["compare", small_store, "--quiet", "--out", a_file / "sub"], "file.txt"),  # --out below a file
        (["descramble", small_store, "--layer", "2", "--quiet", "--weights", obj], "pickle"),  # pickled .npy
        (["descramble", small_store, "--layer", "2", "--quiet", "--operator", str(obj)], "pickle"),
        (["descramble", small_store, "--layer", "2", "--quiet", "--out", a_file], "file.txt"),
        (["info", a_file], "not a store directory|is a file"),
    ]
    import re

    for args, want in cases:
        code, err = run_main(capsys, *args)
        assert code == 2 and len(err) == 1 and err[0].startswith("repscope: error: "), (args, err)
        assert re.search(want, err[0]), (args, err)


def _traversal_store(path: pathlib.Path) -> None:
    from repscope.store import StoreWriter

    w = StoreWriter(path, fingerprint={"crafted": 1}, n_total=None, chunk_rows=32)
    rng = np.random.default_rng(0)
    for i in range(2):
        base = rng.standard_normal((32, 6)).cumsum(1).astype(np.float32)
        w.append({"../../../escape": base, "a/b": base[:, ::-1].copy(), "a_b": base + 1},
                 ids=np.arange(32 * i, 32 * i + 32))
    w.finish()


def test_layer_names_never_write_outside_out(tmp_path, capsys):
    store = tmp_path / "deep" / "er" / "s.zarr"
    _traversal_store(store)
    out = tmp_path / "deep" / "er" / "D"
    before = {p for p in tmp_path.rglob("*")}
    for layer in ["../../../escape", "a/b", "a_b"]:
        code, err = run_main(capsys, "descramble", store, "--layer", layer, "--out", out, "--quiet")
        assert code == 0, err
    new = {p for p in tmp_path.rglob("*")} - before
    assert new and all(out in p.parents or p == out for p in new), sorted(map(str, new))
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 3 and len(set(pngs)) == 3  # "a/b" and "a_b" stay distinct
    assert all("/" not in n and not n.startswith(".") for n in pngs)


def test_safe_name_properties():
    from repscope._paths import safe_name

    names = ["../../../escape", "a/b", "a_b", "..", ".", "", "x" * 300, "ü/ß", "con", "a\x00b", "a b"]
    out = [safe_name(n) for n in names]
    assert len(set(out)) == len(out)
    for s in out:
        assert s and "/" not in s and "\x00" not in s and not s.startswith(".") and len(s) <= 69
    assert safe_name("fc1") == "fc1" and safe_name("layer4.0.conv1") == "layer4.0.conv1"


# ------------------------------------------------------------------------------------ capture: json, signals

FACTORY = textwrap.dedent(
    """
    import os, time, torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc = torch.nn.Linear(8, 6)
            self.out = torch.nn.Linear(6, 3)

        def forward(self, x):
            if os.environ.get("SLOW_FORWARD"):
                time.sleep(float(os.environ["SLOW_FORWARD"]))
            return self.out(torch.relu(self.fc(x)))

    def make():
        return Net()
    """
)


@pytest.fixture
def factory(tmp_path):
    (tmp_path / "tfactory.py").write_text(FACTORY)
    X = np.random.default_rng(3).standard_normal((400, 8)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.arange(400) % 3)
    return tmp_path


def _capture_args(d: pathlib.Path, out: str) -> list[str]:
    return ["capture", "--model", "tfactory:make", "--data", str(d / "X.npy"), "--labels", str(d / "y.npy"),
            "--out", str(d / out), "--layers", "fc,out", "--batch-size", "8", "--chunk-rows", "16"]


def test_capture_json_stdout_is_pure_json_even_with_a_progress_bar_on_a_terminal(factory):
    import pty

    master, slave = pty.openpty()  # stderr is a terminal: the bar is drawn, on stderr only
    proc = subprocess.run([sys.executable, "-m", "repscope.cli", *_capture_args(factory, "j.zarr"), "--json"],
                          stdout=subprocess.PIPE, stderr=slave, env=_env(str(factory)), timeout=300)
    os.close(slave)
    drawn = b""
    try:
        while chunk := os.read(master, 65536):
            drawn += chunk
    except OSError:
        pass
    os.close(master)
    assert proc.returncode == 0
    d = json.loads(proc.stdout)
    assert d["n_samples"] == 400 and d["checksums"] is True and list(d["layers"]) == ["fc", "out"]
    assert b"capture" in drawn  # the bar went to the terminal on stderr
    again = cli(*_capture_args(factory, "j.zarr"), "--json", extra_path=str(factory))
    assert json.loads(again.stdout)["n_samples"] == 400 and "already complete" in again.stderr
    for cmd in (["info", factory / "j.zarr", "--json"], ["verify", factory / "j.zarr", "--json"]):
        assert json.loads(cli(*cmd).stdout)["n_samples"] == 400


def _default_signals() -> None:
    """In the child before exec: SIGINT/SIGTERM at their defaults. A test run started in the background by a
    non-interactive shell (``make test &``) has SIGINT *ignored*, a disposition children inherit and Python
    then keeps (no KeyboardInterrupt) — the capture would rightly ignore the signal this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _interrupt(factory: pathlib.Path, sig: int) -> tuple[subprocess.CompletedProcess, int]:
    path = factory / "sig.zarr"
    env = {**_env(str(factory)), "SLOW_FORWARD": "0.02"}
    proc = subprocess.Popen([sys.executable, "-m", "repscope.cli", *_capture_args(factory, "sig.zarr")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_default_signals)
    start = json.loads((path / "progress.json").read_text())["committed"] if (path / "progress.json").exists() else 0
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if json.loads((path / "progress.json").read_text())["committed"] >= start + 32:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), start


def test_ctrl_c_and_sigterm_during_capture_say_how_to_resume_and_resume_is_exact(factory):
    for sig, code in [(signal.SIGINT, 130), (signal.SIGTERM, 143)]:
        proc, start = _interrupt(factory, sig)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert proc.returncode == code, proc.stderr
        assert len(lines) == 1 and "re-run the same command to resume" in lines[0], proc.stderr
        n = int(lines[0].split("interrupted at ")[1].split(" of ")[0])
        assert start + 32 <= n < 400 and n % 16 == 0 and " of 400 rows" in lines[0]
        part = rs.open_store(factory / "sig.zarr", allow_incomplete=True)
        assert part.n_samples == n and not part.complete
        assert not (factory / "sig.zarr" / ".repscope-writer.lock").exists()
    done = cli(*_capture_args(factory, "sig.zarr"), extra_path=str(factory))
    assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(factory))
    try:
        import tfactory

        ref = rs.capture(tfactory.make(), np.load(factory / "X.npy"), ["fc", "out"], factory / "ref.zarr",
                         labels=np.load(factory / "y.npy"), batch_size=8, chunk_rows=16, progress=False)
    finally:
        sys.path.remove(str(factory))
        sys.modules.pop("tfactory", None)
    a, b = rs.open_store(factory / "sig.zarr"), ref
    for layer in ("fc", "out"):
        np.testing.assert_array_equal(a.read(layer), b.read(layer))
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.sample_ids, np.arange(400))


def test_error_exit_keeps_pending_zarr_style_async_reads_off_stderr():
    # an error raised during concurrent chunk reads leaves sibling reads pending on an event-loop thread (zarr's);
    # at exit asyncio would log "Task was destroyed but it is pending!" under the one-line error
    code = (
        "import asyncio, threading, time\n"
        "from repscope.cli import _error_exit\n"
        "loop = asyncio.new_event_loop()\n"
        "threading.Thread(target=loop.run_forever, daemon=True).start()\n"
        "async def never():\n    await asyncio.sleep(3600)\n"
        "fut = asyncio.run_coroutine_threadsafe(never(), loop)\n"
        "time.sleep(0.1); loop.call_soon_threadsafe(loop.stop); time.sleep(0.1); del fut\n"
        "_error_exit(2)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=120)
    assert proc.returncode == 2 and proc.stderr == "", proc.stderr
