"""``repscope descramble`` — optimal descrambler of a stored layer (Sule, Spencer & Czaja 2023)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_caveats, print_result, write_outputs
from repscope.errors import InputError


def descramble_cmd(
    store: str = opt.store("Activation store (zarr directory or fsspec URL) from capture, or the word 'reproduce' "
                           "to run the DEER-network reproduction of Sule et al. (repscope descramble reproduce "
                           "[--quick])."),
    layer: str = opt.layer("Layer to descramble (e.g. fc1); required with a STORE.", short=False),
    operator: str = typer.Option("first_difference", "--operator", help="first_difference | circular_difference | "
                                 "periodic_second_derivative | path to D.npy"),
    weights: Path | None = opt.weights("The layer's weight as .npy (output units on axis 0) to get P*·W."),
    permutation: bool = typer.Option(False, "--permutation", help="Also solve the unit-reordering QAP."),
    n_init: int = typer.Option(8, "--n-init", min=1, help="Random FAQ restarts for --permutation."),
    center: bool = typer.Option(False, "--center", help="Subtract the mean preactivation first."),
    block_rows: int = opt.block_rows(2048),
    out: Path | None = opt.out("Output directory (P.npy, JSON, PNGs)."),
    json_out: bool = opt.json(),
    seed: int = opt.seed("Seed for the permutation search."),
    quiet: bool = opt.quiet("No progress or summary output."),
    quick: bool = opt.quick(),
    seeds: int = opt.seeds(),
) -> None:
    """Find the orthogonal P making P·S (and P·W) smoothest across units; compare with the bound."""
    from repscope.commands._reproduce import is_reproduce, run_reproduce

    if is_reproduce(store):
        run_reproduce("descramble", quick=quick, seeds=seeds, seed=seed, out=out, as_json=json_out, quiet=quiet)
        return
    if layer is None:
        raise InputError("--layer is required with a STORE; name the layer to descramble (e.g. --layer fc1)")
    from repscope.descramble import descramble_layer
    from repscope.store import open_store

    st = open_store(store)
    results = descramble_layer(st, layer, operator, weights, permutation=permutation, n_init=n_init, center=center,
                               block_rows=block_rows, seed=seed, progress=not quiet)
    print_caveats(st)
    if out is not None:
        _write(out, layer, results)
    print_result([r.to_dict() for r in results], json_out, quiet, *(r.summary() for r in results))


def _write(out: Path, layer: str, results: list[Any]) -> None:
    """P.npy (+ the descrambled weights, the permutation), results.json and one PNG per result in ``out``."""
    import numpy as np

    from repscope._paths import safe_name

    figures = [(r, f"descramble_{safe_name(layer)}_{i}") for i, r in enumerate(results)]
    write_outputs(out, "results.json", [r.to_dict() for r in results], figures, dpi=110)
    np.save(out / "P.npy", results[0].P)
    if results[0].weights_descrambled is not None:
        np.save(out / "weights_descrambled.npy", results[0].weights_descrambled)
    if len(results) > 1:
        np.save(out / "perm.npy", results[1].perm)


def register(app: typer.Typer) -> None:
    app.command("descramble")(descramble_cmd)
