"""Core commands: demo, capture, report, layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from repscope.errors import InputError


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return out or None


def _print_json(obj) -> None:
    from repscope.results import dumps

    typer.echo(dumps(obj))


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("repscope-demo"), "--out", help="Output directory for the report."),
        model: str = typer.Option("cnn", "--model", help="cnn | mlp (digits, trained on the fly) | minilm."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seed for training and every random step."),
        quick: bool = typer.Option(False, "--quick", help="Fewer samples and smaller settings (tests, CI)."),
        sections: list[str] = typer.Option(None, "--sections", help="Subset of report sections (comma list)."),
        as_json: bool = typer.Option(False, "--json", help="Print results.json to stdout."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    ) -> None:
        """Train the embedded default model, capture its activations, analyse them, write the report."""
        from repscope.experiments.pipeline import run_demo

        if model not in ("cnn", "mlp", "minilm"):
            raise InputError(f"--model {model!r}: choose cnn, mlp or minilm")
        log = (lambda m: None) if quiet else (lambda m: typer.echo(m, err=True))
        path = run_demo(out, model=model, seed=seed, quick=quick, sections=_split(sections),
                        progress=not quiet, log=log)
        if as_json:
            typer.echo((path.parent / "results.json").read_text())
        if not quiet:
            typer.echo(f"report written to {path.resolve()}", err=True)

    @app.command("capture")
    def capture_cmd(
        model: str = typer.Option(..., "--model", help="digits-cnn | digits-mlp | package.module:factory"),
        data: str = typer.Option("digits", "--data", help="'digits' or a .npy/.pt array of inputs."),
        out: Path = typer.Option(Path("acts.zarr"), "--out", help="Store directory to write."),
        layers: list[str] = typer.Option(None, "--layers", help="Module names or globs (comma list)."),
        weights: Path = typer.Option(None, "--weights", help="state_dict file (loaded weights_only)."),
        labels: Path = typer.Option(None, "--labels", help=".npy of one label per sample."),
        pool: str = typer.Option("none", "--pool", help="none | mean | max | cls | last | token_mean"),
        point: str = typer.Option("post", "--point", help="post (module output) | pre (module input)"),
        batch_size: int = typer.Option(256, "--batch-size", min=1),
        chunk_rows: int = typer.Option(None, "--chunk-rows", min=1, help="Rows per stored chunk (default: ~8 MiB)."),
        dtype: str = typer.Option("float32", "--dtype", help="float32 | float16 storage"),
        device: str = typer.Option(None, "--device", help="cpu | cuda (default: where the model is)"),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
        no_resume: bool = typer.Option(False, "--no-resume", help="Refuse to continue an existing store."),
        seed: int = typer.Option(0, "--seed", min=0),
        as_json: bool = typer.Option(False, "--json"),
        quiet: bool = typer.Option(False, "--quiet"),
    ) -> None:
        """Capture activations of a model into a resumable zarr store."""
        from repscope import capture
        from repscope.capture.loading import load_array, load_model_spec

        net = load_model_spec(model, weights, seed=seed, builtins=builtin_models())
        y = None
        if data == "digits":
            from repscope.experiments.datasets.digits import load_digits_images

            X, y = load_digits_images()
        else:
            X = load_array(data, "data")
        if labels is not None:
            y = load_array(labels, "labels")
        import warnings

        from repscope.capture.core import CaptureInterrupted

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*already complete.*")
            try:
                store = capture(net, X, _split(layers), out, pool=pool, point=point, batch_size=batch_size,
                                labels=y, dtype=dtype, device=device, overwrite=overwrite, resume=not no_resume,
                                progress=not quiet, dataset=str(data), chunk_rows=chunk_rows)
            except CaptureInterrupted as exc:  # typer would turn it into a silent exit 130
                typer.echo(f"repscope: {exc}", err=True)
                raise typer.Exit(exc.exit_code) from None
        if store.already_complete and not quiet:
            typer.echo(f"{store.path} is already complete ({store.n_samples} samples, same model, data and "
                       f"options); nothing to do — pass --overwrite to capture again", err=True)
        if as_json:
            _print_json(store.to_dict())
        elif not quiet:
            typer.echo(f"{store.n_samples} samples × {len(store.layers)} layers → {store.path}", err=True)

    @app.command("report")
    def report_cmd(
        store_path: Path = typer.Argument(..., metavar="STORE", help="Activation store directory."),
        out: Path = typer.Option(Path("repscope-report"), "--out"),
        sections: list[str] = typer.Option(None, "--sections", help="Subset of sections (comma list)."),
        seed: int = typer.Option(0, "--seed", min=0),
        quick: bool = typer.Option(False, "--quick"),
        as_json: bool = typer.Option(False, "--json"),
        quiet: bool = typer.Option(False, "--quiet"),
    ) -> None:
        """Run the analyses on an existing store and write the HTML report."""
        from repscope import open_store
        from repscope.experiments.pipeline import analyse_store
        from repscope.report import write_report

        store = open_store(store_path)
        log = (lambda m: None) if quiet else (lambda m: typer.echo(m, err=True))
        secs, timings = analyse_store(store, out, sections=_split(sections), seed=seed, quick=quick,
                                      progress=not quiet, log=log)
        path = write_report(secs, out, title=f"repscope report — {store.path.name}",
                            meta={"store": str(store.path), "seed": seed, **timings})
        if as_json:
            typer.echo((path.parent / "results.json").read_text())
        elif not quiet:
            typer.echo(f"report written to {path.resolve()}", err=True)

    @app.command("layers")
    def layers_cmd(
        model: str = typer.Option(..., "--model", help="digits-cnn | digits-mlp | package.module:factory"),
        leaves: bool = typer.Option(False, "--leaves", help="Only modules without children."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """List a model's module names (what --layers accepts)."""
        from repscope.capture import list_layers
        from repscope.capture.loading import load_model_spec

        names = list_layers(load_model_spec(model, builtins=builtin_models()), leaves_only=leaves)
        if as_json:
            _print_json(names)
        else:
            typer.echo("\n".join(names))


def builtin_models() -> dict[str, Any]:
    """The embedded models the CLI's ``--model`` accepts by name (trained on the fly, cached)."""

    def digits(kind: str) -> Any:
        def build(seed: int) -> Any:
            from repscope.experiments.models.digits import load_model

            return load_model(kind, seed=seed)[0]

        return build

    return {"digits-cnn": digits("cnn"), "digits-mlp": digits("mlp")}
