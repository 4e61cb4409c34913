"""``repscope descramble`` — optimal descrambler of a stored layer (Sule, Spencer & Czaja 2023)."""

from __future__ import annotations

import pathlib

import typer

from repscope.commands._format import print_caveats


def register(app: typer.Typer) -> None:
    @app.command("descramble")
    def descramble_cmd(
        store: pathlib.Path = typer.Argument(
            ..., metavar="STORE", help="Activation store (zarr) from capture, or the word 'reproduce' to run the "
            "DEER-network reproduction of Sule et al. (repscope descramble reproduce [--quick])."
        ),
        layer: str = typer.Option(None, "--layer", help="Layer to descramble (e.g. fc1); required with a STORE."),
        operator: str = typer.Option(
            "first_difference", "--operator",
            help="first_difference | circular_difference | periodic_second_derivative | path to D.npy",
        ),
        weights: pathlib.Path | None = typer.Option(
            None, "--weights", help="The layer's weight as .npy (output units on axis 0) to get P*·W."
        ),
        permutation: bool = typer.Option(False, "--permutation", help="Also solve the unit-reordering QAP."),
        n_init: int = typer.Option(8, "--n-init", min=1, help="Random FAQ restarts for --permutation."),
        center: bool = typer.Option(False, "--center", help="Subtract the mean preactivation first."),
        block_rows: int = typer.Option(2048, "--block-rows", min=1, help="Rows per streamed block."),
        out: pathlib.Path | None = typer.Option(None, "--out", help="Output directory (P.npy, JSON, PNGs)."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seed for the permutation search."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress or summary output."),
        quick: bool = typer.Option(False, "--quick", help="With 'reproduce': the ≤ 3-minute version."),
        seeds: int = typer.Option(None, "--seeds", min=2, help="With 'reproduce': seeds (≥ 2; default 5)."),
    ) -> None:
        """Find the orthogonal P making P·S (and P·W) smoothest across units; compare with the bound."""
        import numpy as np

        from repscope._paths import inside, safe_name
        from repscope.capture.loading import load_array
        from repscope.descramble import Descrambler, PermutationDescrambler
        from repscope.errors import InputError
        from repscope.results import dumps
        from repscope.store import open_store

        if str(store) == "reproduce" and not store.exists():
            from repscope.commands._reproduce import run_reproduce

            run_reproduce("descramble", quick=quick, seeds=seeds, seed=seed, out=out, as_json=json_out, quiet=quiet)
            return
        if layer is None:
            raise InputError("--layer is required with a STORE; name the layer to descramble (e.g. --layer fc1)")

        op: object = operator
        if operator.endswith(".npy"):
            path = pathlib.Path(operator)
            if not path.exists():
                raise InputError(f"operator file {path} does not exist; pass a name or an existing D.npy")
            op = load_array(path, "operator")
        W = None
        if weights is not None:
            if not weights.exists():
                raise InputError(f"weights file {weights} does not exist; save the weight with np.save")
            W = load_array(weights, "weights")
        st = open_store(store)
        d = Descrambler(op, center=center).fit_store(st, layer, block_rows=block_rows, progress=not quiet)
        print_caveats(st)
        results = [d.result(W, layer=layer)]
        if permutation:
            p = PermutationDescrambler(d.operator_, n_init=n_init, seed=seed)
            p.fit_moment(d.moment_, d.n_samples_)
            results.append(p.result(layer))
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            np.save(out / "P.npy", d.P_)
            if results[0].weights_descrambled is not None:
                np.save(out / "weights_descrambled.npy", results[0].weights_descrambled)
            if permutation:
                np.save(out / "perm.npy", results[1].perm)
            (out / "results.json").write_text(dumps([r.to_dict() for r in results]))
            for i, r in enumerate(results):
                r.plot().savefig(inside(out, f"descramble_{safe_name(layer)}_{i}.png"), dpi=110)
        if json_out:
            typer.echo(dumps([r.to_dict() for r in results]))
        elif not quiet:
            for r in results:
                typer.echo(r.summary())
