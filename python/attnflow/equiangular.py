"""The equiangular model of [R] §"Equiangular model", with the normalisation schemes of [R] §6
(Karagodin–Ge–Polyanskiy–Rigollet, "Normalization in attention dynamics"); docs/reduced_models.md §2.

If all ⟨x_i, x_j⟩ = ρ at t = 0 (i ≠ j) they stay equal, and with Post-LN
SA: ρ̇ = 2e^{βρ}(1−ρ)((n−1)ρ+1) / (e^β + (n−1)e^{βρ}),  USA: ρ̇ = (2/n) e^{βρ}(1−ρ)((n−1)ρ+1).
Near ρ = 1, 1 − ρ decays at rate 2 (SA) and 2e^β (USA); Pre-LN, Mix-LN and Peri-LN contract
polynomially, 1 − ρ ~ t^{−2}. Schemes with radii (pre_ln, mix_ln, peri_ln) also move r = |x_i|.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _attnflow as _core
from .model import input_error

__all__ = ["solve", "hitting_time", "EquiangularResult", "SCHEMES"]

#: The normalisation schemes ([R] §6 table), in the order of the paper.
SCHEMES = ("post_ln", "pre_ln", "mix_ln", "peri_ln", "ngpt", "sqrt_scaling")


@dataclass
class EquiangularResult:
    """``t`` (T), ``rho`` (T, the common similarity ⟨θ_i, θ_j⟩) and ``r`` (T, the common radius)."""
    t: np.ndarray
    rho: np.ndarray
    r: np.ndarray


def _times(t_end, times, points):
    if times is not None:
        return np.asarray(times, dtype=float) if not isinstance(times, np.ndarray) else times
    if t_end is None:
        raise input_error("t_end", "give t_end (with points) or times")
    t_end = float(t_end)
    if not np.isfinite(t_end) or t_end < 0:
        raise input_error("t_end", f"must be finite and >= 0, got {t_end:g}")
    points = int(points)
    if points < 1:
        raise input_error("points", f"must be at least 1, got {points}")
    if t_end == 0.0:
        return np.zeros(1)
    return np.array([t_end * k / points for k in range(points + 1)])


def solve(n, beta, rho0, t_end=None, times=None, *, kernel="softmax", normalization="post_ln", r0=1.0,
          points=100, mix_time=1.0, alpha=1.0, method="dopri5", dt=None, rtol=1e-10,
          atol=1e-12) -> EquiangularResult:
    """Solves the equiangular ODE for (ρ(t), r(t)) ([R] §Equiangular model and §6), as
    ``attnflow equiangular`` does.

    Parameters
    ----------
    n : number of tokens (≥ 2).
    beta : inverse temperature (≥ 0).
    rho0 : initial similarity, in [−1/(n−1), 1].
    t_end, points : output times t_end·k/points, k = 0..points (or give ``times``).
    kernel : "softmax" (SA) or "usa".
    normalization : one of :data:`SCHEMES`; ``mix_time`` is Mix-LN's switch time τ, ``alpha``
        nGPT's step scale α.
    r0 : initial radius (schemes with radii).
    method, dt, rtol, atol : integrator (dopri5 by default; dt defaults to automatic for dopri5,
        0.01 otherwise).
    """
    grid = _times(t_end, times, points)
    if dt is None:
        dt = 0.0 if method == "dopri5" else 0.01
    raw = _core.equiangular_solve(str(kernel), int(n), float(beta), float(rho0), grid, float(r0),
                                  str(normalization), float(mix_time), float(alpha), str(method), float(dt),
                                  float(rtol), float(atol))
    return EquiangularResult(**raw)


def hitting_time(n, beta, rho0, threshold=0.999, *, kernel="softmax", normalization="post_ln", r0=1.0,
                 mix_time=1.0, alpha=1.0, rtol=1e-10, atol=1e-12) -> float:
    """The first time ρ(t) reaches ``threshold`` from ρ(0) = rho0 ([R] §Equiangular model; the
    metastable "time to cluster"), computed by integrating dt/dρ = 1/ρ̇ exactly: 0 if
    rho0 ≥ threshold, +inf if never (the regular simplex ρ0 = −1/(n−1) is an equilibrium)."""
    return _core.equiangular_hitting_time(str(kernel), int(n), float(beta), float(rho0), float(threshold),
                                          float(r0), str(normalization), float(mix_time), float(alpha),
                                          float(rtol), float(atol))
