"""Load a user's model and data for the CLI.

Models (``--model``): a built-in name; ``path/to/file.py:factory``; ``package.module:factory`` (imported with
the current directory first on the import path, so a module next to you works without PYTHONPATH); or a
Hugging Face model directory (``hf:PATH_OR_NAME``, or a directory holding ``config.json``), read offline
(``HF_HUB_OFFLINE=1``, ``local_files_only=True``). ``factory`` is any callable returning an ``nn.Module``
(a function or the class itself), called without arguments.

Weights are loaded with ``torch.load(..., weights_only=True)`` only: a file that needs arbitrary
unpickling is refused (it could run code).

Data: :func:`load_array` (``.npy``/``.pt``), :func:`load_column` (one value per sample: ``.npy``, ``.pt``,
``.txt``/``.csv`` one per line), :func:`load_table` (attributes: ``.npz`` arrays or a ``.csv`` with a header),
:func:`text_batches` (a text file, one input per line, through a tokenizer) and :class:`ImageFolder`
(a folder of images, see its docstring for the default transform, labels and ids).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from repscope.errors import InputError


def load_weights(path: str | Path) -> dict[str, Any]:
    """Read a ``state_dict`` safely (``weights_only=True``); raise InputError with the fix otherwise."""
    import pickle

    import torch

    p = Path(path)
    if not p.exists():
        raise InputError(f"weights file '{p}' does not exist")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        raise InputError(
            f"'{p}' is not a plain tensor/state_dict file (loading it would require unpickling arbitrary "
            f"objects, which repscope refuses for safety; a whole pickled model is such a file); where the model "
            f"is built, save its weights with torch.save(model.state_dict(), 'state_dict.pt') and pass "
            f"--model file.py:factory --weights state_dict.pt"
        ) from exc
    except Exception as exc:
        raise InputError(f"cannot read weights file '{p}': {exc}") from exc
    if not isinstance(obj, dict):
        raise InputError(f"'{p}' holds a {type(obj).__name__}, not a state_dict; save model.state_dict()")
    return obj


#: Suffixes of files that hold weights or pickles, never a model definition (``--model x.pt``).
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle", ".safetensors", ".h5", ".onnx")


def _listed(keys: list[str], k: int = 10) -> str:
    """The first ``k`` keys and how many more."""
    more = f" (+{len(keys) - k} more)" if len(keys) > k else ""
    return ", ".join(keys[:k]) + more


def check_state_dict(model: Any, state: Mapping[str, Any], source: str = "the weights") -> None:
    """Raise one InputError listing every way ``state`` does not fit ``model``: keys the model needs that
    the file lacks (missing), keys the file has that the model does not (unexpected), and keys whose
    shapes differ (both shapes) — the first 10 of each and the count — with the fix. Returns when it fits."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    sized = [k for k in own if k in state and hasattr(state[k], "shape")
             and tuple(state[k].shape) != tuple(own[k].shape)]
    if not (missing or unexpected or sized):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s) (in the model, not in the file): {_listed(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s) (in the file, not in the model): {_listed(unexpected)}")
    if sized:
        shapes = [f"{k} file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in sized]
        parts.append(f"{len(sized)} size mismatch(es): {_listed(shapes)}")
    fix = ("give --model the factory that builds the architecture these weights were saved from (same layer "
           "names and sizes), with --weights the file saved by torch.save(model.state_dict(), path)")
    prefixes = {k.split(".", 1)[0] for k in state}
    if prefixes == {"module"} and missing:
        fix = ("every key starts with 'module.' (saved from nn.DataParallel/DistributedDataParallel): save "
               "model.module.state_dict() instead")
    elif unexpected and not (set(state) & set(own)) and any(isinstance(v, Mapping) for v in state.values()):
        inner = [k for k, v in state.items() if isinstance(v, Mapping)]
        fix = (f"the file looks like a training checkpoint (entries {_listed(inner, 5)} hold dicts): save the "
               f"model's own entry, e.g. torch.save(ckpt[{inner[0]!r}], 'state_dict.pt'), and pass that to --weights")
    name = type(model).__name__
    raise InputError(f"{source} do not fit the model {name}: " + "; ".join(parts) + f" — {fix}")


def load_model_spec(
    spec: str,
    weights: str | Path | None = None,
    *,
    seed: int = 0,
    builtins: Mapping[str, Callable[[int], Any]] | None = None,
) -> Any:
    """A model from a spec (see the module docstring) (+ ``weights``), or a name in ``builtins``
    (``{name: f(seed) -> model}``; the CLI passes the embedded digits models there, so this module never
    depends on the experiments)."""
    builtins = dict(builtins or {})
    if spec in builtins:
        model = builtins[spec](seed)
    elif spec.startswith("hf:") or (Path(spec).is_dir() and (Path(spec) / "config.json").exists()):
        model = load_hf_model(spec.removeprefix("hf:"))
    else:
        if ":" not in spec and spec.lower().endswith(WEIGHT_SUFFIXES):
            raise InputError(
                f"--model {spec!r} is a weights or pickle file, not a model definition; repscope never unpickles "
                f"a whole model (it could run code): give the architecture as --model file.py:factory (a "
                f"function returning the nn.Module) and the weights as --weights state_dict.pt, saved where the "
                f"model is built with torch.save(model.state_dict(), 'state_dict.pt')"
            )
        if ":" not in spec:
            raise InputError(
                f"model {spec!r} is neither a built-in ({', '.join(builtins) or 'none'}), 'file.py:factory', "
                f"'package.module:factory', nor a Hugging Face model directory ('hf:PATH')"
            )
        mod_name, fn_name = spec.rsplit(":", 1)
        mod = _import_user_module(mod_name)
        fn = getattr(mod, fn_name, None)
        if not callable(fn):
            raise InputError(f"{mod_name!r} has no callable {fn_name!r} to build the model")
        import inspect

        try:
            inspect.signature(fn).bind()
        except TypeError as exc:
            raise InputError(f"{spec}: {fn_name}() needs arguments ({exc}); give --model a factory that needs "
                             f"none, e.g. def build(): return {fn_name}(...)") from exc
        except ValueError:  # no signature to read (some builtins): let the call say
            pass
        try:
            model = fn()
        except Exception as exc:  # the user's code failed: say where, in one line
            msg = " ".join(str(exc).split())
            raise InputError(f"{spec}: {fn_name}() raised {type(exc).__name__}: {msg}") from exc
        import torch

        if not isinstance(model, torch.nn.Module):
            raise InputError(f"{spec} returned a {type(model).__name__}, not a torch.nn.Module")
    if weights is not None:
        state = load_weights(weights)
        check_state_dict(model, state, f"weights '{weights}'")
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:  # what check_state_dict cannot see (e.g. a module's own load hook)
            msg = " ".join(str(exc).split())
            raise InputError(f"weights '{weights}' do not fit the model: {msg}") from exc
    return model


@contextlib.contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))


def _import_user_module(name: str) -> Any:
    """Import ``file.py`` (by path; its folder on the import path while it loads, for sibling imports) or a
    module/package name resolved from the current directory first."""
    if name.endswith(".py"):
        path = Path(name).resolve()
        if not path.is_file():
            raise InputError(f"model file '{name}' does not exist")
        key = f"repscope_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(key, path)
        if spec is None or spec.loader is None:
            raise InputError(f"'{name}' cannot be loaded as a Python module; give a .py file")
        loader = spec.loader
        mod = importlib.util.module_from_spec(spec)
        with _on_path(path.parent):
            sys.modules[key] = mod
            try:
                loader.exec_module(mod)
            except Exception as exc:
                sys.modules.pop(key, None)
                raise InputError(f"running '{name}' failed: {type(exc).__name__}: {exc}") from exc
        return mod
    with _on_path(Path.cwd()):
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            raise InputError(
                f"cannot import module {name!r} for --model ({exc}); give a path ('models/net.py:build') or run "
                f"from the folder that holds the module"
            ) from exc


def _hf_offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def _transformers() -> Any:
    _hf_offline()
    try:
        import transformers
    except ImportError as exc:
        raise InputError("Hugging Face models need the 'transformers' package: pip install 'repscope[text]'") from exc
    with contextlib.suppress(AttributeError):  # its own "Loading weights" bars would clutter stderr
        transformers.utils.logging.disable_progress_bar()
    return transformers


def load_hf_model(name_or_path: str) -> Any:
    """``AutoModel.from_pretrained(name_or_path, local_files_only=True)`` (the base model, without a task
    head) with the hub offline."""
    tf = _transformers()
    try:
        return tf.AutoModel.from_pretrained(name_or_path, local_files_only=True).eval()
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot load the Hugging Face model {name_or_path!r} offline ({str(exc).splitlines()[0]}); give a "
            f"local model directory or a name already in the local cache"
        ) from exc


def load_tokenizer(name_or_path: str) -> Any:
    """``AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)`` with the hub offline."""
    tf = _transformers()
    try:
        return tf.AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot load the tokenizer {name_or_path!r} offline ({str(exc).splitlines()[0]}); give a local "
            f"tokenizer directory (e.g. the model's) or a name already in the local cache"
        ) from exc


def read_lines(path: str | Path, what: str = "text") -> list[str]:
    """Non-empty lines of a UTF-8 text file (one input per line)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} file '{p}' does not exist")
    lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise InputError(f"{what} file '{p}' has no non-empty lines")
    return lines


def text_batches(lines: list[str], tokenizer: Any, *, batch_size: int = 32, max_length: int = 128) -> list[dict]:
    """Tokenise all lines at once (padded to the longest, truncated at ``max_length``) and cut them into
    batches of keyword inputs with ``attention_mask`` (so token pools ignore padding) and ``ids`` (line index)."""
    if getattr(tokenizer, "pad_token", "") is None:  # GPT-style tokenizers: pad with EOS (masked out anyway)
        if getattr(tokenizer, "eos_token", None) is None:
            raise InputError("the tokenizer has neither a padding nor an end-of-sequence token; give one that pads")
        tokenizer.pad_token = tokenizer.eos_token
    enc = tokenizer(lines, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    import torch

    ids = torch.arange(len(lines))
    return [{**{k: v[s : s + batch_size] for k, v in enc.items()}, "ids": ids[s : s + batch_size]}
            for s in range(0, len(lines), batch_size)]


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageFolder:
    """A map-style dataset over a folder of images (used by ``repscope capture --images DIR``).

    - **Files**: every image (``.png .jpg .jpeg .bmp .gif .webp .tif .tiff .ppm .pgm``) below ``root``, sorted
      by relative path (POSIX form); sample id = position in that order (so the same folder always gives the
      same ids); attribute ``path`` = the relative path.
    - **Labels**: as torchvision's ImageFolder — when the images sit in subfolders, the label is the index of
      the first-level subfolder name in sorted order (attribute ``class`` = the name); images directly in
      ``root`` have no label (all must then be directly in ``root``).
    - **Transform**: decode with Pillow, convert to ``mode`` (``"RGB"``, default, or ``"L"`` for grey),
      resize to ``size`` (H, W) with bilinear filtering, scale to [0, 1] as a float32 (C, H, W) tensor, then
      ``normalize="imagenet"`` subtracts the ImageNet mean and divides by its std per channel (RGB only);
      ``"none"`` (default) leaves [0, 1].
    """

    def __init__(self, root: str | Path, size: tuple[int, int], *, mode: str = "RGB", normalize: str = "none"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"image folder '{self.root}' does not exist")
        if mode not in ("RGB", "L"):
            raise InputError(f"image mode {mode!r}: choose RGB or L (grey)")
        if normalize not in ("none", "imagenet"):
            raise InputError(f"--normalize {normalize!r}: choose imagenet or none")
        if normalize == "imagenet" and mode != "RGB":
            raise InputError("ImageNet normalisation needs RGB images; use --normalize none with grey images")
        self.size, self.mode, self.normalize = (int(size[0]), int(size[1])), mode, normalize
        files = sorted((p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                       key=lambda p: p.relative_to(self.root).as_posix())
        if not files:
            raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under '{self.root}'")
        self.paths = [p.relative_to(self.root).as_posix() for p in files]
        nested = ["/" in p for p in self.paths]
        if any(nested) and not all(nested):
            loose = [p for p, n in zip(self.paths, nested) if not n][:3]
            raise InputError(
                f"'{self.root}' mixes images in class subfolders with loose images ({', '.join(loose)}); put every "
                f"image in a class subfolder, or none"
            )
        if all(nested):
            self.classes = sorted({p.split("/", 1)[0] for p in self.paths})
            index = {c: i for i, c in enumerate(self.classes)}
            self.labels: np.ndarray | None = np.array([index[p.split("/", 1)[0]] for p in self.paths], np.int64)
        else:
            self.classes, self.labels = [], None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Any:
        import torch
        from PIL import Image

        with Image.open(self.root / self.paths[i]) as im:
            im = im.convert(self.mode).resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.float32) / 255.0
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        if self.normalize == "imagenet":
            a = (a - np.array(IMAGENET_MEAN, np.float32)[:, None, None]) / np.array(IMAGENET_STD, np.float32)[
                :, None, None]
        x = torch.from_numpy(np.ascontiguousarray(a))
        return x if self.labels is None else (x, int(self.labels[i]))

    def attributes(self) -> dict[str, np.ndarray]:
        out = {"path": np.array(self.paths)}
        if self.labels is not None:
            out["class"] = np.array(self.classes)[self.labels]
        return out


def load_column(path: str | Path, what: str) -> np.ndarray:
    """One value per sample: ``.npy``/``.pt`` (1-D) or ``.txt``/``.csv`` with one value per line (a header
    line that is not a number is skipped in a ``.csv``); integers when every value is one."""
    p = Path(path)
    if p.suffix in (".npy", ".pt", ".pth"):
        a = load_array(p, what)
    elif p.suffix in (".txt", ".csv"):
        vals = read_lines(p, what)
        if p.suffix == ".csv" and _number(vals[0]) is None:
            vals = vals[1:]
        a = _column(vals)
    else:
        raise InputError(f"{what} file '{p}' must be .npy, .pt, .txt or .csv")
    if a.ndim != 1:
        raise InputError(f"{what} file '{p}' holds shape {a.shape}; give one value per sample (1-D)")
    return a


def load_table(path: str | Path) -> dict[str, np.ndarray]:
    """Per-sample attributes: ``.npz`` (each 1-D array a column, no pickles) or ``.csv`` with a header row
    (numeric columns become numbers, the rest strings)."""
    import csv

    p = Path(path)
    if not p.is_file():
        raise InputError(f"attributes file '{p}' does not exist")
    if p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                cols = {k: np.asarray(z[k]) for k in z.files}
        except ValueError as exc:
            raise InputError(f"'{p}' needs pickle to load, which repscope refuses; save plain arrays") from exc
    elif p.suffix == ".csv":
        with p.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if len(rows) < 2:
            raise InputError(f"attributes file '{p}' needs a header row and one row per sample")
        header, body = rows[0], rows[1:]
        bad = [i + 2 for i, r in enumerate(body) if len(r) != len(header)]
        if bad:
            raise InputError(f"'{p}' line(s) {bad[:5]} do not have {len(header)} fields like the header")
        cols = {h.strip(): _column([r[i].strip() for r in body]) for i, h in enumerate(header)}
    else:
        raise InputError(f"attributes file '{p}' must be .npz or .csv")
    for k, v in cols.items():
        if v.ndim != 1:
            raise InputError(f"attribute {k!r} in '{p}' has shape {v.shape}; give one value per sample (1-D)")
    if not cols:
        raise InputError(f"attributes file '{p}' holds no columns")
    return cols


def _number(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _column(vals: list[str]) -> np.ndarray:
    nums = [_number(v) for v in vals]
    if any(n is None for n in nums):
        return np.array(vals)
    a = np.array(nums, dtype=np.float64)
    return a.astype(np.int64) if np.all(a == np.round(a)) and np.all(np.abs(a) < 2**53) else a


def load_array(path: str | Path, what: str = "data") -> np.ndarray:
    """Load ``.npy`` (no pickles) or a tensor saved with torch.save (weights_only)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file '{p}' does not exist")
    if p.suffix == ".npy":
        try:
            return np.load(p, allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"'{p}' needs pickle to load, which repscope refuses; save a numeric array") from exc
    if p.suffix in (".pt", ".pth"):
        import torch

        try:
            t = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"'{p}' is not a plain tensor file ({exc})") from exc
        if not hasattr(t, "numpy"):
            raise InputError(f"'{p}' holds a {type(t).__name__}, not a tensor")
        return t.numpy()
    raise InputError(f"{what} file '{p}' must be .npy or .pt")


def parse_layers(values: list[str] | None) -> list[str] | None:
    """``--layers`` values → layer specs: comma lists, except that a ``re:`` expression is taken whole (it may
    hold commas); None when none is given.

    >>> parse_layers(["fc1,fc2", "re:conv[12]{1,2}"])
    ['fc1', 'fc2', 're:conv[12]{1,2}']
    """
    if not values:
        return None
    out: list[str] = []
    for item in values:
        out += [item.strip()] if item.strip().startswith("re:") else [v.strip() for v in item.split(",") if v.strip()]
    return out or None


def parse_per_layer(values: list[str] | None, default: str, *, integers: bool = False) -> Any:
    """``MODE`` and ``LAYER=MODE`` values (``--pool``, ``--point``) → one mode, or ``{"*": default, layer: mode}``
    when some name a layer; with ``integers`` a numeric mode is an int (a pooled position).

    >>> parse_per_layer(["mean", "fc2=max"], "none")
    {'*': 'mean', 'fc2': 'max'}
    >>> parse_per_layer(["pre"], "post")
    'pre'
    """
    if not values:
        return default
    mapping: dict[str, Any] = {}
    for v in values:
        layer, eq, mode = v.rpartition("=")
        mode = mode.strip()
        value: Any = int(mode) if integers and mode.lstrip("-").isdigit() else mode
        if eq and not layer.strip():
            raise InputError(f"{v!r}: give LAYER=MODE or MODE")
        mapping[layer.strip() if eq else "*"] = value
    return mapping["*"] if list(mapping) == ["*"] else mapping


def parse_output_index(value: str) -> int | str:
    """``--output-index``: an integer index into a tuple output, else a key of a dict output.

    >>> parse_output_index("-1"), parse_output_index("logits")
    (-1, 'logits')
    """
    return int(value) if value.lstrip("-").isdigit() else value


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``--shard I/K`` → ``(I, K)``; None when not given.

    >>> parse_shard("0/4")
    (0, 4)
    """
    if text is None:
        return None
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"--shard {text!r}: write I/K, e.g. --shard 0/4 for the first of 4 shards")
    return int(parts[0]), int(parts[1])


def random_input(input_shape: str, seed: int) -> Any:
    """Two seeded standard-normal samples of the per-sample shape ``input_shape`` (``"1,28,28"``), a tensor.

    >>> tuple(random_input("1,28,28", seed=0).shape)
    (2, 1, 28, 28)
    """
    import torch

    try:
        dims = [int(v) for v in input_shape.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--input-shape {input_shape!r}: give integers like 1,28,28") from None
    return torch.randn(2, *dims, generator=torch.Generator().manual_seed(seed))
