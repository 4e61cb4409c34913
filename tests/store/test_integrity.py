"""Damaged stores: a missing, flipped or truncated chunk (and torn metadata) is a StoreError naming the array,
the rows and the fix in every API reader — never zeros, garbage or a crash; ``verify`` lists it; stores
without checksums still open."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import repscope as rs
from repscope.errors import StoreError
from repscope.metrics import layer_matrix
from repscope.store import verify_store

N, CHUNK = 120, 16


def make_store(path: pathlib.Path, **kw) -> rs.ActivationStore:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 3))
    X = np.random.default_rng(0).standard_normal((N, 12)).astype(np.float32)
    return rs.capture(model, X, ["0", "2", "4"], path, labels=np.arange(N) % 3,
                      attributes={"colour": np.arange(N) % 2}, chunk_rows=CHUNK, progress=False, **kw)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    path = tmp_path_factory.mktemp("pristine") / "s.zarr"
    make_store(path)
    return path


@pytest.fixture
def store_copy(pristine, tmp_path):
    import shutil

    dst = tmp_path / "s.zarr"
    shutil.copytree(pristine, dst)
    return dst


def chunk_file(store: pathlib.Path, array: str, i: int) -> pathlib.Path:
    return store / array / "c" / str(i) / ("0" if array.startswith("layers/") else "")


def damage(path: pathlib.Path, kind: str) -> None:
    p = path if path.name != "" else path.parent
    if kind == "delete":
        p.unlink()
    elif kind == "flip":
        b = bytearray(p.read_bytes())
        for k in range(8):  # 8 flipped bytes spread over the chunk
            b[(k * 37 + 20) % len(b)] ^= 0xFF
        p.write_bytes(bytes(b))
    elif kind == "truncate":
        b = p.read_bytes()
        p.write_bytes(b[: len(b) // 2])
    elif kind == "zero":  # same size, all zero bytes (a torn write)
        p.write_bytes(bytes(p.stat().st_size))
    else:
        raise AssertionError(kind)


KINDS = ["delete", "flip", "truncate", "zero"]

#: every API reader of a layer; each must raise for damage in chunk 2 of layer "2" (rows 32–47)
LAYER_READERS = {
    "read": lambda st: st.read("2"),
    "read_slice": lambda st: st.read("2", rows=slice(30, 50)),
    "read_indices": lambda st: st.read("2", rows=[40, 3]),
    "iter_rows": lambda st: [b for _, b in st.iter_rows("2")],
    "finite_rows": lambda st: st.finite_rows("2"),
    "dask_array": lambda st: st.dask_array("2").sum().compute(),
    "layer_matrix": lambda st: layer_matrix(st, metric="linear_cka", progress=False),
}


def _open(path):
    """open_store (the structural check catches a missing file at once); a chunk whose file is intact in
    size is caught by the read itself."""
    return rs.open_store(path)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reader", list(LAYER_READERS))
def test_every_layer_reader_refuses_a_damaged_chunk(store_copy, kind, reader):
    ref = rs.open_store(store_copy).read("2")
    damage(chunk_file(store_copy, "layers/L001", 2), kind)
    with pytest.raises(StoreError) as ei:
        LAYER_READERS[reader](_open(store_copy))
    msg = str(ei.value)
    assert "layer '2'" in msg and "rows 32–47" in msg and "--overwrite" in msg and "verify" in msg
    # the undamaged layers and rows still read exactly
    st = rs.open_store(store_copy, allow_incomplete=True) if kind != "delete" else None
    if st is not None:
        np.testing.assert_array_equal(st.read("2", rows=slice(0, 32)), ref[:32])
        assert st.read("0").shape == (N, 16)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("array", "label", "get"), [
    ("labels", "labels", lambda st: st.labels),
    ("sample_ids", "sample_ids", lambda st: st.sample_ids),
    ("attributes/A000", "attribute 'colour'", lambda st: st.attributes),
])
def test_columns_refuse_damaged_chunks(store_copy, kind, array, label, get):
    damage(chunk_file(store_copy, array, 5), kind)
    with pytest.raises(StoreError, match=rf"{label}, rows 80–95 \(chunk 5\)"):
        get(_open(store_copy))


def test_last_partial_chunk_and_verify_listing(store_copy):
    assert verify_store(store_copy).ok
    damage(chunk_file(store_copy, "layers/L002", 7), "truncate")  # rows 112–119 (a partial chunk)
    damage(chunk_file(store_copy, "layers/L000", 0), "flip")
    damage(chunk_file(store_copy, "sample_ids", 3), "delete")
    res = verify_store(store_copy)
    assert not res.ok
    got = {(p["array"], p["rows"]) for p in res.problems}
    assert got == {("layer '4'", "rows 112–119"), ("layer '0'", "rows 0–15"), ("sample_ids", "rows 48–63")}
    assert res.chunks_checked == 8 * 6  # 3 layers, ids, labels, one attribute; 8 chunks each
    assert "checksum mismatch" in json.dumps(res.to_dict())


@pytest.mark.parametrize("what", ["layer_meta", "layer_meta_deleted", "progress", "root"])
def test_metadata_corruption_is_a_store_error(store_copy, what):
    if what == "layer_meta":
        (store_copy / "layers" / "L001" / "zarr.json").write_text('{"shape": [12')
    elif what == "layer_meta_deleted":
        (store_copy / "layers" / "L001" / "zarr.json").unlink()
    elif what == "progress":
        (store_copy / "progress.json").write_text("{garbage")
    else:
        (store_copy / "zarr.json").write_bytes(b"\x00" * 50)
    with pytest.raises(StoreError, match="corrupt|cannot be opened|damaged"):
        rs.open_store(store_copy).read("2")


def test_a_capture_refuses_to_resume_onto_a_damaged_store(tmp_path):
    path = tmp_path / "s.zarr"
    make_store(path)
    prog = json.loads((path / "progress.json").read_text())
    prog.update(committed=64, complete=False)
    (path / "progress.json").write_text(json.dumps(prog))
    damage(chunk_file(path, "layers/L000", 1), "delete")
    with pytest.raises(StoreError, match=r"layer '0', rows 16–31"):
        make_store(path)
    assert make_store(path, overwrite=True).verify().ok  # the documented fix works


def test_empty_chunks_are_written_so_a_missing_file_is_never_zeros(tmp_path):
    """A dead layer (all zeros = the fill value) still has every chunk file: deleting one is detected."""
    path = tmp_path / "z.zarr"
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(-1.0)
    rs.capture(model, np.ones((40, 4), np.float32), ["1"], path, chunk_rows=8, progress=False)
    assert len([p for p in (path / "layers" / "L000" / "c").rglob("*") if p.is_file()]) == 5
    (path / "layers" / "L000" / "c" / "2" / "0").unlink()
    with pytest.raises(StoreError, match="rows 16–23"):
        rs.open_store(path)


# ------------------------------------------------------------------------ stores without checksums

OLD_STORE = textwrap.dedent(
    """
    import sys, numpy as np
    from repscope.store import core
    from zarr.codecs import BloscCodec, ZstdCodec
    # what repscope wrote before checksums: blosc/zstd only, empty chunks skipped, no integrity keys
    core._compressors = lambda name: [BloscCodec(cname="lz4", clevel=1, shuffle="shuffle")]
    core._column_compressors = lambda: [ZstdCodec(level=0)]
    core._ALWAYS_WRITE = {"write_empty_chunks": False}
    w = core.StoreWriter(sys.argv[1], fingerprint={"old": 1}, n_total=None, chunk_rows=16)
    w._meta.pop("checksum"); w._meta.pop("chunks_always_written"); w._save_meta()
    rng = np.random.default_rng(0)
    for i in range(4):
        w.append({"a": rng.standard_normal((16, 40)).astype(np.float32)}, ids=np.arange(16 * i, 16 * i + 16),
                 labels=np.arange(16) % 2)
    w.finish()
    """
)

READ_OLD = textwrap.dedent(
    """
    import sys, repscope as rs
    from repscope.errors import StoreError
    try:
        rs.open_store(sys.argv[1]).read("a")
    except StoreError as exc:
        print("STOREERROR", exc)
    """
)


def test_store_without_checksums_opens_and_truncation_never_reaches_blosc(tmp_path):
    path = tmp_path / "old.zarr"
    subprocess.run([sys.executable, "-c", OLD_STORE, str(path)], check=True)
    st = rs.open_store(path)
    assert not st.has_checksums and st.read("a").shape == (64, 40)
    res = verify_store(path)
    assert res.ok and any("without chunk checksums" in w for w in res.warnings)
    info = subprocess.run([sys.executable, "-m", "repscope.cli", "info", str(path)], capture_output=True, text=True)
    assert info.returncode == 0 and "NO chunk checksums" in info.stdout
    damage(chunk_file(path, "layers/L000", 2), "truncate")
    # in a subprocess: a truncated blosc buffer handed to the decompressor can kill the process
    out = subprocess.run([sys.executable, "-c", READ_OLD, str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "STOREERROR" in out.stdout and "rows 32–47" in out.stdout and "truncated" in out.stdout
