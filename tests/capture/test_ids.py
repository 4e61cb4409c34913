"""Sample ids come from the data; shuffled captures align by id; unrecordable shuffles are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, TensorDataset

import repscope as rs
from repscope.errors import InputError
from repscope.metrics import layer_matrix


def _ds(tiny_data):
    X, y = tiny_data
    return TensorDataset(torch.from_numpy(X), torch.from_numpy(y))


def test_shuffled_loader_ids_are_dataset_indices(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    dl = DataLoader(_ds(tiny_data), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(3))
    s = rs.capture(tiny_model, dl, ["fc", "out"], tmp_path / "s.zarr", attributes={"parity": y % 2},
                   progress=False)
    ids = s.sample_ids
    # before: ids were 0..N-1 in visit order, so row k was labelled with the wrong sample
    assert sorted(ids.tolist()) == list(range(70)) and not np.array_equal(ids, np.arange(70))
    with torch.no_grad():
        ref = tiny_model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(s.read("out"), ref[ids], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(s.labels, y[ids])  # labels from the batches
    np.testing.assert_array_equal(s.attributes["parity"], (y % 2)[ids])  # full arrays looked up by index


def test_two_orders_give_the_aligned_cka(tmp_path, tiny_model, tiny_data):
    ds = _ds(tiny_data)
    seq = rs.capture(tiny_model, DataLoader(ds, batch_size=16), ["conv", "fc", "out"], tmp_path / "a.zarr",
                     pool={"conv": "mean"}, progress=False)
    shuf = [rs.capture(tiny_model, DataLoader(ds, batch_size=16, shuffle=True,
                                              generator=torch.Generator().manual_seed(k)),
                       ["conv", "fc", "out"], tmp_path / f"s{k}.zarr", pool={"conv": "mean"}, progress=False)
            for k in (1, 2)]
    assert not np.array_equal(shuf[0].sample_ids, shuf[1].sample_ids)
    aligned = layer_matrix(seq, seq).values
    cross = layer_matrix(shuf[0], shuf[1]).values
    np.testing.assert_allclose(cross, aligned, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.diag(cross), 1.0, rtol=1e-6)
    # rows matched by position instead of id would not be the same samples: the diagonal drops well below 1
    pos = {k: shuf[1].read(k) for k in ("conv", "fc", "out")}
    assert layer_matrix(shuf[0], pos).values[1, 1] < 0.9


def test_ids_field_ids_argument_and_subset_sampler(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    xs = torch.from_numpy(X)
    batches = [{"x": xs[i:i + 20], "ids": torch.arange(1000 + i, 1000 + i + len(xs[i:i + 20]))}
               for i in range(0, 70, 20)]
    s = rs.capture(tiny_model, batches, "out", tmp_path / "f.zarr", forward=lambda m, b: m(b["x"]),
                   progress=False)
    np.testing.assert_array_equal(s.sample_ids, np.arange(1000, 1070))
    s = rs.capture(tiny_model, X, "out", tmp_path / "a.zarr", ids=np.arange(70)[::-1] * 3, progress=False)
    np.testing.assert_array_equal(s.sample_ids, np.arange(70)[::-1] * 3)
    with pytest.raises(InputError, match="ids must be integers"):
        rs.capture(tiny_model, X, "out", tmp_path / "b.zarr", ids=np.array(["a"] * 70), progress=False)
    # a sampler over part of the dataset: n = the sampler's length, ids = the chosen dataset indices,
    # labels= (one per dataset item) looked up by index
    pick = [5, 60, 7, 33, 12]
    dl = DataLoader(_ds(tiny_data), batch_size=2, sampler=pick)
    s = rs.capture(tiny_model, dl, "out", tmp_path / "p.zarr", labels=y * 10, progress=False)
    assert s.n_samples == 5
    np.testing.assert_array_equal(s.sample_ids, pick)
    np.testing.assert_array_equal(s.labels, y[pick] * 10)


class _ShuffledLoader:
    """A hand-written loader with a RandomSampler: capture cannot see which samples each batch holds."""

    def __init__(self, X, ids=False):
        self.X, self.ids = X, ids
        self.sampler = RandomSampler(range(len(X)), generator=torch.Generator().manual_seed(0))

    def __iter__(self):
        order = list(self.sampler)
        for s in range(0, len(order), 16):
            idx = order[s:s + 16]
            yield {"x": self.X[idx], "ids": torch.tensor(idx)} if self.ids else self.X[idx]


def test_unrecordable_shuffle_is_refused(tmp_path, tiny_model, tiny_data):
    X, y = tiny_data
    with pytest.raises(InputError, match="delivers its samples in an order capture cannot record.*'ids' field"):
        rs.capture(tiny_model, _ShuffledLoader(torch.from_numpy(X)), "out", tmp_path / "r.zarr", progress=False)
    with pytest.raises(InputError, match="labels cannot be matched"):
        rs.capture(tiny_model, _ShuffledLoader(torch.from_numpy(X)), "out", tmp_path / "l.zarr", labels=y,
                   progress=False)
    s = rs.capture(tiny_model, _ShuffledLoader(torch.from_numpy(X), ids=True), "out", tmp_path / "ok.zarr",
                   forward=lambda m, b: m(b["x"]), progress=False)
    with torch.no_grad():
        ref = tiny_model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(s.read("out"), ref[s.sample_ids], rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match=r"labels cannot be matched to the rows of the DataLoader \(in_order=False"):
        rs.capture(tiny_model, DataLoader(_ds(tiny_data), batch_size=8, num_workers=1, in_order=False), "out",
                   tmp_path / "o.zarr", labels=y, progress=False)
    with pytest.raises(InputError, match="batch_size=None"):
        rs.capture(tiny_model, DataLoader(_ds(tiny_data), batch_size=None, shuffle=True), "out",
                   tmp_path / "n.zarr", progress=False)


def test_sampling_with_replacement_is_refused(tmp_path, tiny_model, tiny_data):
    sampler = RandomSampler(range(70), replacement=True, num_samples=70, generator=torch.Generator().manual_seed(0))
    with pytest.raises(InputError, match="occur more than once"):
        rs.capture(tiny_model, DataLoader(_ds(tiny_data), batch_size=16, sampler=sampler), "out",
                   tmp_path / "w.zarr", progress=False)


class _DictDataset(Dataset):
    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return {"x": self.X[i], "ids": 500 + i}


def test_dataset_ids_field_wins_over_the_index(tmp_path, tiny_model, tiny_data):
    X, _ = tiny_data
    dl = DataLoader(_DictDataset(torch.from_numpy(X)), batch_size=32, shuffle=True,
                    generator=torch.Generator().manual_seed(0))
    s = rs.capture(tiny_model, dl, "out", tmp_path / "d.zarr", forward=lambda m, b: m(b["x"]), progress=False)
    assert sorted(s.sample_ids.tolist()) == list(range(500, 570))


class _Counting(Dataset):
    def __init__(self, X):
        self.X, self.loaded = X, []

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        self.loaded.append(i)
        return self.X[i]


def test_resume_over_a_loader_does_not_load_committed_batches(tmp_path, tiny_model, tiny_data):
    X = torch.from_numpy(tiny_data[0])

    class StopAt(torch.nn.Module):
        def __init__(self, inner, k):
            super().__init__()
            self.inner, self.k, self.n = inner, k, 0

        def forward(self, x):
            self.n += 1
            if self.n == self.k:
                raise RuntimeError("stop")
            return self.inner(x)

    ds = _Counting(X)
    path = tmp_path / "r.zarr"
    with pytest.raises(rs.CaptureError):
        rs.capture(StopAt(tiny_model, 4), DataLoader(ds, batch_size=16), "inner.out", path, chunk_rows=16,
                   progress=False)
    done = rs.open_store(path, allow_incomplete=True).n_samples
    assert done == 48
    ds.loaded.clear()
    s = rs.capture(StopAt(tiny_model, 0), DataLoader(ds, batch_size=16), "inner.out", path, chunk_rows=16,
                   progress=False)
    # the loader handed out rows 48..69 only; what came before is the resume fingerprint's sample of the
    # dataset (each item at most once) — without skipping in the sampler, rows 0..47 would be loaded again
    head = ds.loaded[:-22]
    assert ds.loaded[-22:] == list(range(48, 70)) and len(head) == len(set(head)) < 48
    ref = rs.capture(tiny_model, X, "out", tmp_path / "ref.zarr", batch_size=16, progress=False)
    np.testing.assert_array_equal(s.read("inner.out"), ref.read("out"))
    np.testing.assert_array_equal(s.sample_ids, np.arange(70))


def test_string_keyed_dataset_is_refused_with_the_fix(tmp_path, tiny_model, tiny_data):
    X = torch.from_numpy(tiny_data[0])
    table = {f"s{i}": X[i] for i in range(70)}

    class Keyed(Dataset):
        def __getitem__(self, key):
            return table[key]

        def __len__(self):
            return len(table)

    dl = DataLoader(Keyed(), batch_size=16, sampler=list(table))
    with pytest.raises(InputError, match=r"non-integer keys \('s0', …\).*'ids' field"):
        rs.capture(tiny_model, dl, "out", tmp_path / "k.zarr", progress=False)
    batches = ({"x": x, "ids": torch.arange(s, s + len(x))} for s, x in zip(range(0, 70, 16), dl))
    s = rs.capture(tiny_model, batches, "out", tmp_path / "g.zarr", forward=lambda m, b: m(b["x"]), progress=False)
    assert s.n_samples == 70


def test_one_shot_batch_sampler_is_iterated_once(tmp_path):
    X = torch.randn(10, 3)
    m = torch.nn.Sequential(torch.nn.Linear(3, 2))
    dl = DataLoader(TensorDataset(X), batch_sampler=iter([[4, 1, 2], [3, 0], [5, 6, 7, 8, 9]]))
    s = rs.capture(m, dl, "0", tmp_path / "a.zarr", progress=False)
    np.testing.assert_array_equal(s.sample_ids, [4, 1, 2, 3, 0, 5, 6, 7, 8, 9])
    with torch.no_grad():
        np.testing.assert_allclose(s.read("0"), m(X)[s.sample_ids].numpy(), rtol=1e-6)
