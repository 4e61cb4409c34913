"""``repscope info``'s description of a store (repscope.store.describe_store): every layer with its shape, and
damage reported instead of raised."""

from __future__ import annotations

from repscope.experiments.datasets.toy import toy_store
from repscope.store import describe_store


def test_description_of_an_intact_store():
    store, tmp = toy_store()
    try:
        d, text = describe_store(store.path)
    finally:
        tmp.cleanup()
    assert d["damage"] is None and d["n_samples"] == 60 and list(d["layers"]) == ["fc1", "relu", "fc2"]
    lines = text.splitlines()
    assert lines[0].endswith("60 samples, 3 layers, complete")
    assert [line.split(":")[0].strip() for line in lines[1:4]] == ["fc1", "relu", "fc2"]
    assert "labels: yes" in text and "CRC-32C" in text


def test_damage_is_described_not_raised():
    store, tmp = toy_store()
    try:
        chunks = sorted(p for p in (store.path / "layers").rglob("*") if p.is_file() and p.name != "zarr.json")
        chunks[0].unlink()  # one committed chunk of a layer lost
        d, text = describe_store(store.path)
    finally:
        tmp.cleanup()
    assert d["damage"] and "missing" in d["damage"].lower()
    assert text.splitlines()[0].endswith("complete")  # the description is still there
