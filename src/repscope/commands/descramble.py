"""``repscope descramble`` — optimal descrambler of a stored layer (Sule, Spencer & Czaja 2023)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import typer

from repscope.commands import _options as opt
from repscope.commands._format import print_caveats, print_result, write_outputs
from repscope.errors import InputError

if TYPE_CHECKING:  # numpy stays out of `repscope --help`
    import numpy as np
    from numpy.typing import ArrayLike


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
    from repscope.capture.loading import load_array
    from repscope.descramble import Descrambler, PermutationDescrambler
    from repscope.store import open_store

    if store == "reproduce" and not Path(store).exists():
        from repscope.commands._reproduce import run_reproduce

        run_reproduce("descramble", quick=quick, seeds=seeds, seed=seed, out=out, as_json=json_out, quiet=quiet)
        return
    if layer is None:
        raise InputError("--layer is required with a STORE; name the layer to descramble (e.g. --layer fc1)")
    op: ArrayLike = operator
    if operator.endswith(".npy"):
        if not Path(operator).exists():
            raise InputError(f"operator file {operator} does not exist; pass a name or an existing D.npy")
        op = load_array(Path(operator), "operator")
    if weights is not None and not weights.exists():
        raise InputError(f"weights file {weights} does not exist; save the weight with np.save")
    W = None if weights is None else load_array(weights, "weights")
    st = open_store(store)
    d = Descrambler(op, center=center).fit_store(st, layer, block_rows=block_rows, progress=not quiet)
    print_caveats(st)
    results = [d.result(W, layer=layer)]
    if permutation:
        p = PermutationDescrambler(cast(Any, d.operator_), n_init=n_init, seed=seed)  # an operator object
        p.fit_moment(d.moment_, d.n_samples_)
        results.append(p.result(layer))
    if out is not None:
        _write(out, layer, d.P_, results)
    print_result([r.to_dict() for r in results], json_out, quiet, *(r.summary() for r in results))


def _write(out: Path, layer: str, P: np.ndarray, results: list[Any]) -> None:
    """P.npy (+ the descrambled weights, the permutation), results.json and one PNG per result in ``out``."""
    import numpy as np

    from repscope._paths import safe_name

    figures = [(r, f"descramble_{safe_name(layer)}_{i}") for i, r in enumerate(results)]
    write_outputs(out, "results.json", [r.to_dict() for r in results], figures, dpi=110)
    np.save(out / "P.npy", P)
    if results[0].weights_descrambled is not None:
        np.save(out / "weights_descrambled.npy", results[0].weights_descrambled)
    if len(results) > 1:
        np.save(out / "perm.npy", results[1].perm)


def register(app: typer.Typer) -> None:
    app.command("descramble")(descramble_cmd)
