"""What ``repscope info`` says about a store: its description, and the damage a structure check finds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from repscope.errors import StoreError
from repscope.store.core import ActivationStore

__all__ = ["describe_store"]


def describe_store(path: str | Path) -> tuple[dict[str, Any], str]:
    """The description of the store at ``path`` (complete or not; :meth:`ActivationStore.to_dict`, with
    ``"damage"``: what the structure check found wrong, else None) and the same as text: samples, layers,
    shapes, labels, attributes and whether chunks carry checksums.

    Examples
    --------
    >>> from repscope.experiments.datasets.toy import toy_store
    >>> from repscope.store import describe_store
    >>> store, tmp = toy_store()
    >>> d, text = describe_store(store.path)
    >>> d["damage"], text.splitlines()[1]
    (None, '  fc1: 8 (float32, pool=None)')
    >>> tmp.cleanup()
    """
    st = ActivationStore(path, allow_incomplete=True, check=False)
    d = st.to_dict()
    try:
        st.check_structure()
        d["damage"] = None
    except StoreError as exc:
        d["damage"] = str(exc)
    state = "complete" if st.complete else "INCOMPLETE (re-run the capture to resume)"
    lines = [f"{st.path}: {st.n_samples} samples, {len(st.layers)} layers, {state}"]
    if not st.complete and st.metadata.get("shards"):
        lines.append(f"  {st.incomplete_reason}")
    for name, v in d["layers"].items():
        shape = "×".join(map(str, v["shape"]))
        nf = f", {v['nonfinite']} NaN/Inf" if v["nonfinite"] else ""
        lines.append(f"  {name}: {shape} ({v['dtype']}, pool={v['pool']}{nf})")
    lines.append(f"  labels: {'yes' if d['has_labels'] else 'no'}; attributes: {', '.join(d['attributes']) or '-'}")
    if st.has_checksums:
        lines.append("  integrity: every chunk carries a CRC-32C checksum (verified on read; `repscope verify` scans "
                     "all)")
    else:
        lines.append("  integrity: NO chunk checksums (written by an older repscope): corrupted bytes cannot be "
                     "detected; re-capture with --overwrite to add them")
    return d, "\n".join(lines)
