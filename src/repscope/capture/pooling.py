"""Per-layer reductions that know which axes they reduce.

Layouts (the batch axis N is always first):

- ``(N, D)`` — a feature vector: nothing to pool.
- ``(N, C, H, W)`` and ``(N, C, D, H, W)`` — channel-first maps (PyTorch's convention): spatial axes 2….
- ``(N, T, D)`` vs ``(N, C, L)`` — a 3-D output is read from the module that produced it:

  * channel-first ``(N, C, L)`` for ``Conv1d``/``ConvTranspose1d``, ``BatchNorm1d``/``InstanceNorm1d``,
    1-D pooling (``MaxPool1d``, ``AvgPool1d``, ``AdaptiveAvgPool1d``, …) and ``Dropout1d``;
  * a sequence ``(N, T, D)`` (tokens or time steps) for everything else that computes features: ``Linear``,
    ``Embedding``, norms over the last axis, attention, transformer blocks, RNN/GRU/LSTM (``batch_first=True``),
    Hugging Face layers. For these known sequence modules (:data:`SEQUENCE_MODULES`, and containers whose last
    real leaf is one) the layout is certain; a leaf module repscope does not know (a user's own module) is read
    as a sequence too, but only as a default (``"unknown"``) that an explicit mode may override;
  * elementwise modules (``ReLU``, ``GELU``, ``Dropout``, ``Identity``, …) keep their input's layout, which
    the module alone does not tell: in a model without any of the channel-first 1-D modules above they are
    sequences; otherwise a generic ``"mean"``/``"max"`` on their 3-D output is refused with the two explicit
    choices. A container (``Sequential``, a block) is read from its last non-elementwise leaf.

Modes (``pool=``):

- ``"none"`` — keep everything (stored flattened; the per-sample shape is kept in the metadata);
- ``"mean"`` / ``"max"`` — reduce the positional axes of the layout: spatial axes of a map, tokens of a
  sequence (masked by ``attention_mask`` when the batch has one); an ``(N, D)`` output is kept as is;
- ``"spatial_mean"`` / ``"spatial_max"`` — treat the output as channel-first ``(N, C, …)`` and reduce axes 2…;
- ``"token_mean"`` — treat it as ``(N, T, D)`` and average real tokens (``attention_mask``);
- ``"cls"`` (token 0), ``"last"`` (last real token under ``attention_mask``), ``"pos:K"`` or an int ``K``
  (token ``K``; negative counts from the end of the padded sequence).

The explicit modes (``spatial_*``, ``token_mean``, ``cls``, ``last``, ``pos:K``) settle an ambiguous or
unknown layout; a mode that does not fit the output raises :class:`~repscope.errors.InputError` naming the
shape and the mode that fits — a mode that does not fit its rank, and a mode that would reduce the feature
axis: a spatial mode on a known sequence ``(N, T, D)`` (it would average the D features), a token mode on a
known channel-first ``(N, C, L)`` map (it would pick or average channels). The feature axis is never reduced,
so the stored ``axes`` are always true.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from repscope.errors import InputError

POOLS = ("none", "mean", "max", "spatial_mean", "spatial_max", "token_mean", "cls", "last")
TOKEN_MODES = ("token_mean", "cls", "last")

_CHANNEL_FIRST_1D = (
    "Conv1d", "ConvTranspose1d", "LazyConv1d", "LazyConvTranspose1d", "BatchNorm1d", "LazyBatchNorm1d",
    "InstanceNorm1d", "LazyInstanceNorm1d", "SyncBatchNorm", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d",
    "AdaptiveMaxPool1d", "LPPool1d", "Dropout1d", "MaxUnpool1d", "ConstantPad1d", "ReflectionPad1d",
    "ReplicationPad1d", "ZeroPad1d", "CircularPad1d", "GroupNorm",
)
#: Leaf modules whose 3-D output is known to be ``(N, T, D)``, matched on the end of the class name (so
#: Hugging Face's ``T5LayerNorm``, ``LlamaRMSNorm``, GPT-2's ``Conv1D`` — a linear map — are included).
SEQUENCE_MODULES = ("Linear", "Bilinear", "Embedding", "LayerNorm", "RMSNorm", "RNN", "LSTM", "GRU", "Attention",
                    "Conv1D", "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
                    "TransformerDecoderLayer")
_ELEMENTWISE = (
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid",
    "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Softsign", "Tanhshrink", "Softshrink",
    "Hardshrink", "LogSigmoid", "Threshold", "GLU", "Dropout", "AlphaDropout", "FeatureAlphaDropout",
    "Identity", "Softmax", "LogSoftmax", "Softmin", "NewGELUActivation", "GELUActivation", "FastGELUActivation",
    "QuickGELUActivation", "ClassInstantier",
)


def normalise_mode(value: Any, where: str) -> str:
    """Validate one pool mode; ints and ``"pos:K"`` become ``"pos:K"``."""
    if isinstance(value, bool):
        raise InputError(f"pool={value!r}{where} is not a pool mode; choose one of {', '.join(POOLS)} or 'pos:K'")
    if isinstance(value, int):
        return f"pos:{value}"
    if isinstance(value, str):
        if value in POOLS:
            return value
        if value.startswith("pos:"):
            try:
                int(value[4:])
            except ValueError:
                raise InputError(f"pool={value!r}{where}: the position must be an integer, e.g. 'pos:3'") from None
            return f"pos:{int(value[4:])}"
    raise InputError(f"pool={value!r}{where} is not one of {', '.join(POOLS)}, 'pos:K' or an int")


def per_layer(value: Any, layers: list[str], what: str, normalise) -> dict[str, str]:
    """Expand one option value, or a mapping ``{exact name | glob | 're:…': value, "*": default}``, to one
    value per layer. An exact name wins over patterns; patterns are tried in the mapping's order; the key
    ``"*"`` (or ``"**"``) is the default for layers nothing else matched."""
    from repscope.capture.select import compile_pattern

    if not isinstance(value, Mapping):
        v = normalise(value, "")
        return dict.fromkeys(layers, v)
    default_key = next((k for k in ("*", "**") if k in value), None)
    default = value[default_key] if default_key else ("none" if what == "pool" else "post")
    patterns = [(k, compile_pattern(str(k))) for k in value if k not in ("*", "**") and k not in layers]
    for k, rx in patterns:
        if not any(rx.fullmatch(layer) for layer in layers):
            raise InputError(
                f"{what} key {k!r} matches none of the captured layers ({', '.join(layers[:12])}"
                f"{', …' if len(layers) > 12 else ''}); use a captured layer's name or a pattern that matches one"
            )
    out: dict[str, str] = {}
    for layer in layers:
        if layer in value:
            v = value[layer]
        else:
            v = next((value[k] for k, rx in patterns if rx.fullmatch(layer)), default)
        out[layer] = normalise(v, f" for layer {layer!r}")
    return out


def layouts(model: Any, names: list[str]) -> dict[str, str]:
    """Layout of each named module's 3-D output: ``"channels"``, ``"tokens"``, ``"unknown"`` (a module repscope
    does not know: read as tokens unless an explicit mode says otherwise) or ``"elementwise"`` (ambiguous)."""
    modules = dict(model.named_modules())
    out = {n: layout_of(modules[n]) for n in names}
    if "elementwise" in out.values():
        has_1d_maps = any(type(m).__name__ in _CHANNEL_FIRST_1D for m in model.modules())
        if not has_1d_maps:
            out = {n: "tokens" if v == "elementwise" else v for n, v in out.items()}
    return out


def layout_of(module: Any) -> str:
    """``"channels"``, ``"tokens"``, ``"unknown"`` or ``"elementwise"`` for a module's 3-D output (rule in the
    module doc)."""
    name = type(module).__name__
    children = list(module.modules())[1:]
    if children:  # a container: its last non-elementwise leaf decides
        leaves = [m for m in children if not any(True for _ in m.children())]
        for leaf in reversed(leaves):
            lay = layout_of(leaf)
            if lay != "elementwise":
                return lay
    if name in _CHANNEL_FIRST_1D:
        return "channels"
    if name in _ELEMENTWISE:
        return "elementwise"
    if name.endswith(SEQUENCE_MODULES):
        return "tokens"
    return "unknown"


def stored_axes(ndim: int, pool: str, layout: str) -> str:
    """Names of the per-sample axes a layer's rows hold (recorded as ``layer_info(layer)["axes"]``), for an
    output of ``ndim`` dimensions (batch included) reduced with ``pool``: lenses use it to find sequences."""
    if pool != "none" or ndim <= 2:
        return "features"
    if ndim >= 4:
        return "channels, " + ", ".join(["depth", "height", "width"][-(ndim - 2):])
    return {"channels": "channels, length", "tokens": "tokens, features", "unknown": "tokens, features"}.get(
        layout, "channels, length or tokens, features (ambiguous)")


def mean_gives(shape: tuple[int, ...], layout: str) -> str:
    """What ``pool="mean"`` stores for an output of per-sample ``shape`` (batch axis dropped) and ``layout``."""
    if len(shape) <= 1:
        return f"{tuple(shape)} kept"
    if len(shape) >= 3 or layout == "channels":
        return f"({shape[0]},) over {'L' if len(shape) == 2 else ', '.join('DHW'[-(len(shape) - 1):])}"
    if layout in ("tokens", "unknown"):
        return f"({shape[1]},) over tokens"
    return "ambiguous: pool='spatial_mean' or 'token_mean'"


def _shape_text(t: Any) -> str:
    return "(" + ", ".join(["N", *map(str, t.shape[1:])]) + ")"


def reduce(t: Any, pool: str, layer: str, layout: str, mask: Any = None) -> Any:
    """Apply the per-layer reduction ``pool`` to the batch tensor ``t`` (see the module docstring)."""
    nd = t.ndim
    if pool == "none":
        return t
    if pool in ("mean", "max"):
        if nd <= 2:
            return t
        if nd == 3 and layout == "elementwise":
            raise InputError(
                f"pool={pool!r} on layer {layer!r}: its output {_shape_text(t)} could be channels × length "
                f"(after a Conv1d) or tokens × features (after a Linear/attention); say which with "
                f"pool='spatial_{pool}' or pool='token_mean'"
            )
        if nd >= 4 or layout == "channels":
            return _spatial(t, pool)
        return _tokens(t, pool, mask)
    if pool in ("spatial_mean", "spatial_max"):
        if nd < 3:
            raise InputError(
                f"pool={pool!r} needs a channel-first map (N, C, L|H,W|D,H,W) but layer {layer!r} produced "
                f"{_shape_text(t)} (no spatial axes); use pool='none' for this layer"
            )
        if nd == 3 and layout == "tokens":
            how = pool[len("spatial_"):]
            fix = "pool='token_mean' (or 'mean')" if how == "mean" else "pool='max' (over tokens)"
            how = "average" if how == "mean" else "take the maximum over"
            raise InputError(
                f"pool={pool!r} on layer {layer!r}: its output {_shape_text(t)} is a sequence (batch, tokens or "
                f"time steps, features), not a channel-first map — a spatial mode would {how} its "
                f"{t.shape[2]} features instead of its positions; use {fix}, or 'cls', 'last', 'pos:K' for one position"
            )
        return _spatial(t, pool[len("spatial_"):])
    # token modes
    if nd != 3:
        fix = ("pool='spatial_mean' or 'spatial_max' (a channel-first map)" if nd >= 4
               else "pool='none' (already one vector per sample)")
        raise InputError(
            f"pool={pool!r} needs a sequence output (batch, tokens, features) but layer {layer!r} produced "
            f"shape {_shape_text(t)}; use {fix}"
        )
    if layout == "channels":
        raise InputError(
            f"pool={pool!r} on layer {layer!r}: its output {_shape_text(t)} is a channel-first map (batch, "
            f"channels, length), not a sequence — a token mode would {'average' if pool == 'token_mean' else 'pick'}"
            f" channels and keep positions; use pool='spatial_mean' (or 'mean') or 'spatial_max'"
        )
    if pool == "token_mean":
        return _tokens(t, "mean", mask)
    if pool == "cls":
        return t[:, 0]
    if pool == "last":
        m = _mask_for(t, mask)
        if m is None:
            return t[:, -1]
        import torch

        last = torch.where(m.any(1), (m.long().cumsum(1)).argmax(1), t.shape[1] - 1)
        return t[torch.arange(t.shape[0], device=t.device), last]
    k = int(pool[4:])
    if not -t.shape[1] <= k < t.shape[1]:
        raise InputError(f"pool={pool!r} on layer {layer!r}: position {k} is outside its {t.shape[1]} tokens")
    return t[:, k]


def _spatial(t: Any, how: str) -> Any:
    flat = t.reshape(t.shape[0], t.shape[1], -1)
    return flat.mean(dim=2) if how == "mean" else flat.amax(dim=2)


def _mask_for(t: Any, mask: Any) -> Any:
    if mask is None or tuple(mask.shape) != tuple(t.shape[:2]):
        return None
    return mask.to(t.device).bool()


def _tokens(t: Any, how: str, mask: Any) -> Any:
    m = _mask_for(t, mask)
    if m is None:
        return t.mean(dim=1) if how == "mean" else t.amax(dim=1)
    if how == "mean":
        w = m.to(t.dtype)
        return (t * w[..., None]).sum(1) / w.sum(1).clamp_min(1)[:, None]
    return t.masked_fill(~m[..., None], float("-inf")).amax(dim=1)
