"""InputDSA: ours (repscope.dynamics.input_dsa) vs dsa-metric 2.0.2's InputDSA on the same data — agreement + time.

    PYTHONPATH=src benchmarks/.venv/bin/python benchmarks/inputdsa.py

Systems: fully observed input-driven linear systems ``x_{t+1} = A x_t + B u_t + noise`` (n = 4 states,
m = 2 inputs, one trial of T = 400 steps — the reference pairs rows across trial boundaries, so one trial
keeps both fits on the same transitions). Pairs: same A / other B, other A / same B, the system vs
itself observed through a random rotation (exact answer 0 for every component), unrelated systems.

Both sides fit DMDc with n_delays = 1 and full rank; compared per pair:
- the fitted operators (ours ``A_embedded_``/``B_embedded_`` vs the reference's ``A_havok_dmd``/``B_havok_dmd``);
- intrinsic distance: ours (converged Riemannian Newton) vs the reference's ``compare="state"``
  (``SimilarityTransformDist``, Adam on a Cayley map, 1500 iterations, angular);
- input-coupling distance: ours vs the reference's ``compare="control"`` (orthogonal Procrustes on B,
  angular), same definition;
- joint distance: ours uses the Kalman controllability matrix ``[B, AB, …]``; the reference's
  ``compare="joint"`` uses ``[B, AB, AᵀB, A²B, (Aᵀ)²B, …]`` — different definitions, listed for reference.
Times are wall-clock per pair (fit both systems + score), torch single-threaded, median of 3 runs.

Subspace DMDc: a 4-d latent system seen through 2 outputs (5 trials × 100 steps), ours vs the reference's
``SubspaceDMDc`` (``backend="n4sid"``, n_delays = 4, rank 4): basis-free quantities only (eigenvalues of A and
Markov parameters C AʲB, j < 6), without and with noise.
"""

from __future__ import annotations

import numpy as np

from _timing import median_time


def _system(rng, A, B, T=400, noise=0.05):
    U = rng.standard_normal((T, B.shape[1]))
    X = np.zeros((T, A.shape[0]))
    x = rng.standard_normal(A.shape[0])
    for t in range(T):
        X[t] = x
        x = A @ x + B @ U[t] + noise * rng.standard_normal(A.shape[0])
    return X, U


def _stable(rng, n):
    A = rng.standard_normal((n, n))
    return A * 0.9 / np.max(np.abs(np.linalg.eigvals(A)))



def main() -> None:
    import torch

    torch.set_num_threads(1)
    from DSA.dmdc import DMDc
    from DSA.dsa import DMDcConfig, InputDSA

    from repscope.dynamics import fit_dmdc, input_dsa

    rng = np.random.default_rng(0)
    n, m = 4, 2
    A1, B1 = _stable(rng, n), rng.standard_normal((n, m))
    A2, B2 = _stable(rng, n), rng.standard_normal((n, m))
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    X1, U1 = _system(rng, A1, B1)
    pairs = {
        "same A, other B": (X1, U1, *_system(rng, A1, B2)),
        "other A, same B": (X1, U1, *_system(rng, A2, B1)),
        "rotated copy (exact 0)": (X1, U1, X1 @ Q.T, U1),
        "unrelated": (X1, U1, *_system(rng, A2, B2)),
    }
    cfg = DMDcConfig(n_delays=1, rank_input=n + m, rank_output=n, lamb=1e-8)

    def ref(X, U, Y, V, compare):
        sim = {"compare": compare, "score_method": "angular"}
        if compare == "state":
            sim = {"score_method": "angular", "iters": 1500, "lr": 5e-3}
        d = InputDSA(X, U, Y, V, dmd_class=DMDc, dmd_config=cfg, simdist_config=sim)
        return float(np.asarray(d.fit_score()).ravel()[0])

    print("| pair | component | ours | dsa-metric | abs diff | ours s | dsa-metric s |")
    print("|---|---|---|---|---|---|---|")
    worst = {"state": 0.0, "input": 0.0}
    for name, (X, U, Y, V) in pairs.items():
        ours, t_ours = median_time(lambda X=X, U=U, Y=Y, V=V: input_dsa(X, U, Y, V, rank=n))
        for comp, rcomp in (("state", "state"), ("input", "control"), ("joint", "joint")):
            r, t_ref = median_time(lambda X=X, U=U, Y=Y, V=V, rc=rcomp: ref(X, U, Y, V, rc),
                                    reps=1 if rcomp == "state" else 3)
            o = getattr(ours, comp)
            diff = abs(o - r)
            if comp in worst:
                worst[comp] = max(worst[comp], diff)
            note = " (different definition)" if comp == "joint" else ""
            print(f"| {name} | {comp}{note} | {o:.5f} | {r:.5f} | {diff:.2e} | {t_ours:.3f} | {t_ref:.3f} |")
    # operators
    op_diff = 0.0
    for X, U, _, _ in pairs.values():
        f = fit_dmdc(X, U, rank=n)
        r = DMDc(X, U, n_delays=1, rank_input=n + m, rank_output=n, lamb=1e-8)
        r.fit()
        op_diff = max(op_diff, float(np.abs(f.A_embedded_ - r.A_havok_dmd.double().numpy()).max()),
                      float(np.abs(f.B_embedded_ - r.B_havok_dmd.double().numpy()).max()))
    print()
    print(f"largest |ours − dsa-metric| on the fitted operators A, B (float32 reference): {op_diff:.2e}")
    print(f"largest |ours − dsa-metric| intrinsic (state) distance: {worst['state']:.2e} rad "
          f"(the reference's Adam optimiser stops short of the optimum; ours is converged)")
    print(f"largest |ours − dsa-metric| input-coupling distance: {worst['input']:.2e} rad")
    subspace()


def subspace() -> None:
    from DSA.subspace_dmdc import SubspaceDMDc

    from repscope.dynamics import fit_subspace_dmdc

    rng = np.random.default_rng(1)
    A = _stable(rng, 4)
    B, C = rng.standard_normal((4, 2)), rng.standard_normal((2, 4))
    true_eig = np.sort_complex(np.linalg.eigvals(A))
    print()
    print("| subspace DMDc | max Δ eigenvalues ours/ref | max Δ Markov ours/ref | ours vs truth (eig) | "
          "ref vs truth (eig) | ours s | ref s |")
    print("|---|---|---|---|---|---|---|")
    for noise in (0.0, 0.01):
        U = rng.standard_normal((5, 100, 2))
        Y = np.zeros((5, 100, 2))
        for k in range(5):
            x = rng.standard_normal(4)
            for t in range(100):
                Y[k, t] = C @ x
                x = A @ x + B @ U[k, t] + noise * rng.standard_normal(4)
        Y = Y + noise * rng.standard_normal(Y.shape)

        def ref(Y=Y, U=U):
            r = SubspaceDMDc(Y, U, n_delays=4, rank=4, lamb=1e-8, backend="n4sid")
            r.fit()
            return np.asarray(r.A), np.asarray(r.B), np.asarray(r.C)

        (Ar, Br, Cr), t_r = median_time(ref)
        o, t_o = median_time(lambda Y=Y, U=U: fit_subspace_dmdc(Y, U, n_delays=4, rank=4))
        er, eo = np.sort_complex(np.linalg.eigvals(Ar)), np.sort_complex(o.eigenvalues_)
        mp_r = np.stack([Cr @ np.linalg.matrix_power(Ar, j) @ Br for j in range(6)])
        print(f"| noise {noise} | {np.abs(er - eo).max():.1e} | {np.abs(mp_r - o.markov_parameters(6)).max():.1e} | "
              f"{np.abs(eo - true_eig).max():.1e} | {np.abs(er - true_eig).max():.1e} | {t_o:.4f} | {t_r:.4f} |")


if __name__ == "__main__":
    main()
