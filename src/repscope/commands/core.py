"""Core commands: demo, capture, report, layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_caveats, print_json, print_table, stderr_log
from repscope.errors import InputError
from repscope.lenses import keys as lens_keys

#: The report's sections (what was captured, then the lens registry's lenses — a light import) and the demo's
#: built-in experiments, for --help (kept equal to experiments.pipeline by tests/test_cli.py; not imported, so
#: that --help stays light).
SECTIONS = ("capture", *lens_keys())
EXPERIMENT_SECTIONS = ("spurious-digits", "attractors", "descrambling-reproductions", "topology-reproduction",
                       "reproductions")
SECTIONS_HELP = (f"Only these sections, comma-separated, from: {', '.join(SECTIONS)} and the experiments "
                 f"{', '.join(EXPERIMENT_SECTIONS)} (default: all).")


def _tokenizer_opt() -> Any:
    return typer.Option(None, "--tokenizer", help="Tokenizer dir/name for --text (default: the model's directory); "
                        "read offline.")


# the image options of capture and layers (typer reads an option's declaration, never changes it)
_SIZE = typer.Option("224", "--image-size", help="H or H,W the model expects (--images).")
_MODE = typer.Option("RGB", "--image-mode", help="RGB | L (grey) for --images.")
_NORM = typer.Option("none", "--normalize", help="imagenet | none for --images.")
_REPORT_OUT = "Output directory for the report."
_PRINT_RESULTS = "Print results.json to stdout."


def demo(
    out: Path = opt.out(_REPORT_OUT, Path("repscope-demo")),
    model: str = typer.Option("cnn", "--model", help="cnn | mlp (digits, trained on the fly) | minilm."),
    seed: int = opt.seed("Seed for training and every random step."),
    quick: bool = opt.quick("Fewer samples and smaller settings (tests, CI)."),
    sections: list[str] = typer.Option(None, "--sections", metavar="LIST", help=SECTIONS_HELP),
    as_json: bool = opt.json(_PRINT_RESULTS),
    quiet: bool = opt.quiet(),
) -> None:
    """Train the embedded default model, capture its activations, analyse them, write the report."""
    from repscope.experiments.pipeline import run_demo

    if model not in ("cnn", "mlp", "minilm"):
        raise InputError(f"--model {model!r}: choose cnn, mlp or minilm")
    path = run_demo(out, model=model, seed=seed, quick=quick, sections=opt.split(sections), progress=not quiet,
                    log=stderr_log(quiet))
    _print_report(path, as_json, quiet)


def _print_report(path: Path, as_json: bool, quiet: bool) -> None:
    if as_json:
        typer.echo((path.parent / "results.json").read_text())
    elif not quiet:
        typer.echo(f"report written to {path.resolve()}", err=True)


def capture_cmd(
    model: str = typer.Option(..., "--model", help="digits-cnn | digits-mlp | minilm | file.py:factory | "
                              "module:factory (from the current directory) | hf:MODEL_DIR"),
    data: str = typer.Option(None, "--data", help="'digits' (default) or a .npy/.pt array of inputs."),
    text: Path = typer.Option(None, "--text", help="Text file, one input per line (Hugging Face models)."),
    tokenizer: str = _tokenizer_opt(),
    max_length: int = typer.Option(128, "--max-length", min=1, help="Truncate --text inputs to this many tokens."),
    images: Path = typer.Option(None, "--images", help="Folder of images (subfolders = classes)."),
    image_size: str = _SIZE,
    image_mode: str = _MODE,
    normalize: str = _NORM,
    workers: int = opt.workers(0, "Processes decoding --images (0: in this one).", min=0),
    out: str = opt.out("Store directory to write, or an fsspec URL (file://, s3://, gs://, …; see "
                       "docs/scale-out.md).", "acts.zarr"),
    layers: list[str] = opt.layers("Module names, globs ('*' within a dotted segment, '**' across) or re:REGEX "
                                   "(comma list or repeated)."),
    weights: Path = opt.weights(),
    labels: Path = typer.Option(None, "--labels", help="One label per sample (.npy/.pt/.txt/.csv)."),
    attributes: Path = typer.Option(None, "--attributes", help="Per-sample attributes (.npz or .csv)."),
    ids: Path = typer.Option(None, "--ids", help="One integer sample id per sample (.npy/.pt/.txt/.csv)."),
    pool: list[str] = typer.Option(None, "--pool", help="MODE or LAYER=MODE (repeatable): none | mean | max | "
                                   "spatial_mean | spatial_max | token_mean | cls | last | pos:K"),
    point: list[str] = typer.Option(None, "--point", help="post | pre, or LAYER=post|pre (repeatable)."),
    output_index: str = typer.Option("0", "--output-index", help="Element of a tuple/dict output to keep (index or "
                                     "key)."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Samples per forward pass."),
    chunk_rows: int = typer.Option(None, "--chunk-rows", min=1, help="Rows per stored chunk (default: ~8 MiB)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32 | float16 storage"),
    device: str = typer.Option(None, "--device", help="cpu | cuda (default: where the model is)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
    no_resume: bool = typer.Option(False, "--no-resume", help="Refuse to continue an existing store."),
    shard: str = typer.Option(None, "--shard", help="I/K: distributed capture — write only shard I (0…K-1) of the "
                              "rows; run K such processes (same arguments) into one --out."),
    seed: int = opt.seed("Seed for model construction and every random step."),
    as_json: bool = opt.json("Print the store's description as JSON."),
    quiet: bool = opt.quiet(),
) -> None:
    """Capture activations of a model into a resumable zarr store."""
    import warnings

    from repscope.capture import capture, loading
    from repscope.capture.core import CaptureInterrupted
    from repscope.experiments.inputs import builtin_models, data_source

    net = loading.load_model_spec(model, weights, seed=seed, builtins=builtin_models())
    src = data_source(model, data, text, tokenizer, max_length, images, image_size, image_mode, normalize,
                      batch_size, workers, labels=labels, attributes=attributes, ids=ids)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*already complete.*")
        try:
            store = capture(net, src.data, loading.parse_layers(layers), out,
                            pool=loading.parse_per_layer(pool, "none", integers=True),
                            point=loading.parse_per_layer(point, "post"), batch_size=batch_size, labels=src.labels,
                            attributes=src.attributes or None, ids=src.ids,
                            output_index=loading.parse_output_index(output_index), dtype=dtype, device=device,
                            overwrite=overwrite, resume=not no_resume, progress=not quiet, dataset=src.description,
                            chunk_rows=chunk_rows, shard=loading.parse_shard(shard))
        except CaptureInterrupted as exc:  # typer would turn it into a silent exit 130
            typer.echo(f"repscope: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
    log = stderr_log(quiet)
    if store.already_complete and shard:
        log(f"shard {shard} of {store.path} is already complete (same model, data and options); nothing to do")
    elif store.already_complete:
        log(f"{store.path} is already complete ({store.n_samples} samples, same model, data and options); "
            f"nothing to do — pass --overwrite to capture again")
    if as_json:
        print_json(store.to_dict())
    elif not store.complete:  # a shard finished; others still missing
        log(f"shard {shard} written; {store.path} is waiting for other shards ({store.n_samples} rows committed in "
            f"order so far)")
    else:
        log(f"{store.n_samples} samples × {len(store.layers)} layers → {store.path}")


def report_cmd(
    store_path: str = opt.store("Activation store directory or fsspec URL (file://, …)."),
    out: Path = opt.out(_REPORT_OUT, Path("repscope-report")),
    sections: list[str] = typer.Option(None, "--sections", metavar="LIST", help=f"Only these sections, "
                                       f"comma-separated, from: {', '.join(SECTIONS)} (default: all)."),
    seed: int = opt.seed(),
    quick: bool = opt.quick("Smaller settings (fewer permutations and points)."),
    weights: Path = opt.weights("state_dict file for descrambling (keys '<layer>.weight')."),
    weight_name: str = typer.Option(None, "--weight-name", help="Key of the weight in --weights (one layer)."),
    layers: list[str] = opt.layers("Layers every lens reads (comma list)."),
    unit: str = typer.Option(None, "--unit", metavar="LAYER:INDEX",
                             help="Ranges: band this unit (e.g. fc2:3) instead of the default units."),
    direction: str = typer.Option(None, "--direction", metavar="SPEC", help="Ranges: band this direction instead: "
                                  "LAYER:class-mean:A[-B] | LAYER:probe:A | LAYER:file:PATH.npy."),
    workers: int = opt.workers(None, "Worker processes for the parallel parts."),
    experiments: bool = typer.Option(False, "--experiments",
                                     help="Append the built-in experiments (papers' controlled cases)."),
    as_json: bool = opt.json(_PRINT_RESULTS),
    quiet: bool = opt.quiet(),
) -> None:
    """Run every lens that applies to the store and write the HTML report (skipped/failed sections say why)."""
    from repscope.experiments.pipeline import store_report
    from repscope.report.job import report_options
    from repscope.store import open_store

    store = open_store(store_path)
    path = store_report(store, out, opt.split(sections), experiments=experiments, seed=seed, quick=quick,
                        progress=not quiet, log=stderr_log(quiet), n_workers=workers,
                        options=report_options(quick, weights, weight_name, unit, direction, opt.split(layers)))
    print_caveats(store)
    _print_report(path, as_json, quiet)


def layers_cmd(
    model_arg: str = typer.Argument(None, metavar="MODEL", help="Same forms as capture's --model."),
    model: str = typer.Option(None, "--model", help="The model, as an option (same as MODEL)."),
    leaves: bool = typer.Option(False, "--leaves", help="Only modules without children."),
    shapes: bool = typer.Option(False, "--shapes", help="Run one example batch through the model and show each "
                                "module's type and output shape per sample."),
    data: str = typer.Option(None, "--data", help="Example input: first rows of a .npy/.pt array ('digits' for the "
                             "built-ins)."),
    input_shape: str = typer.Option(None, "--input-shape", help="Example input of this per-sample shape, e.g. "
                                    "1,28,28 (random normal, seeded)."),
    text: Path = typer.Option(None, "--text", help="Example input: a text file (with --tokenizer)."),
    tokenizer: str = _tokenizer_opt(),
    images: Path = typer.Option(None, "--images", help="Example input: a folder of images."),
    image_size: str = _SIZE,
    image_mode: str = _MODE,
    normalize: str = _NORM,
    weights: Path = opt.weights(),
    seed: int = opt.seed("Seed for the random example input."),
    as_json: bool = opt.json("Print the table (or the names) as JSON."),
) -> None:
    """List a model's modules (what --layers accepts); with --shapes also their types and output shapes."""
    import sys

    from repscope.capture import list_layers
    from repscope.capture.loading import load_model_spec
    from repscope.experiments.inputs import builtin_models, example_input

    spec = model_arg or model
    if spec is None:
        raise InputError("give the model: repscope layers MODEL (or --model MODEL)")
    net = load_model_spec(spec, weights, seed=seed, builtins=builtin_models())
    example = example_input(spec, input_shape, needed=shapes, seed=seed, data=data, text=text, tokenizer=tokenizer,
                            images=images, image_size=image_size, image_mode=image_mode, normalize=normalize)
    table = list_layers(net, example, leaves_only=leaves)
    if as_json:
        print_json(table.to_dict() if table.with_shapes else table.names)
    elif not table.with_shapes:
        typer.echo("\n".join(table.names))
    elif sys.stdout.isatty():
        header, rows = table.table()
        print_table(header, [["" if v is None else v for v in row] for row in rows], title=f"{spec}: {table.summary()}")
    else:
        typer.echo(table.tsv())


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("capture")(capture_cmd)
    app.command("report")(report_cmd)
    app.command("layers")(layers_cmd)
