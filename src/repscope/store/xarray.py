"""An activation store's layer as a Brain-Score-like assembly: an ``xarray.DataArray`` with dims
``("presentation", "neuroid")`` (Brain-Score's ``NeuroidAssembly`` layout), so repscope's captures feed tools
that read such assemblies.

Coordinates on ``presentation``: ``sample_id`` (the store's ids), ``label`` (when the store has labels) and
one per stored attribute; on ``neuroid``: ``neuroid_id`` (``"<layer>.<index>"``, unique across layers when
assemblies of several layers are concatenated), ``neuroid_num`` and ``layer``. Attributes: ``layer``,
``layer_shape`` (per-sample shape before flattening), ``pool`` and the store's path. Brain-Score's own
``NeuroidAssembly`` wraps such an array (``NeuroidAssembly(da)`` after building a MultiIndex with
``da.set_index(presentation=[...], neuroid=[...])``); repscope stays a plain DataArray so it needs only xarray.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from repscope.results import xarray_module


def layer_xarray(store: Any, layer: str, rows: Any = None) -> Any:
    """``store``'s ``layer`` (rows: as :meth:`ActivationStore.read`) as a presentation × neuroid DataArray."""
    xr = xarray_module()
    X = store.read(layer, rows)
    pick = (lambda a: a) if rows is None else (lambda a: np.asarray(a)[rows])
    coords: dict[str, Any] = {"sample_id": ("presentation", pick(store.sample_ids))}
    if store.labels is not None:
        coords["label"] = ("presentation", pick(store.labels))
    for name, values in store.attributes.items():
        key = name if name not in ("sample_id", "label", "neuroid_id", "neuroid_num", "layer") else f"attr_{name}"
        coords[key] = ("presentation", pick(values))
    d = X.shape[1]
    coords["neuroid_id"] = ("neuroid", np.array([f"{layer}.{i}" for i in range(d)]))
    coords["neuroid_num"] = ("neuroid", np.arange(d))
    coords["layer"] = ("neuroid", np.full(d, layer))
    info = store.layer_info(layer)
    attrs = {"layer": layer, "layer_shape": tuple(int(s) for s in store.layer_shape(layer)),
             "pool": info.get("pool"), "store": str(store.path)}
    return xr.DataArray(X, dims=("presentation", "neuroid"), coords=coords, name=layer,
                        attrs={k: v for k, v in attrs.items() if v is not None})
