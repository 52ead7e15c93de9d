"""Gaussian solutions of the Transformer PDE ([C] §"Gaussian data"; docs/reduced_models.md §1).

For softmax, L2 and Sinkhorn attention in R^d a Gaussian measure N(m, Σ) stays Gaussian, because the
velocity field at a Gaussian is affine, v(x) = b + M x, and an affine flow pushes Gaussians to
Gaussians: ṁ = b + M m, Σ̇ = MΣ + ΣMᵀ (softmax: v(x) = V(m + ΣA x), A = βKᵀQ, hence
ṁ = V(I + ΣA)m, Σ̇ = VΣAΣ + ΣAᵀΣVᵀ). Σ may blow up in finite time, and Σ/tr Σ may degenerate to low
rank ("clustering" of the Gaussian) [C].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _attnflow as _core
from .api import _as_list
from .model import model_table

__all__ = ["simulate", "field", "w2", "GaussianResult"]


@dataclass
class GaussianResult:
    """What :func:`simulate` returns: ``t`` (T), ``mean`` (T×d), ``cov`` (T×d×d), ``eigenvalues``
    (T×d, of Σ/tr Σ, descending), ``rank`` (T, numerical rank of Σ/tr Σ), ``blowup_time`` (the
    estimated t* with tr Σ → ∞, or None) and ``blowup_detected_at``; frames stop before a blow-up.
    ``config`` is the resolved configuration (as ``attnflow gaussian`` records it)."""
    t: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    eigenvalues: np.ndarray
    rank: np.ndarray
    blowup_time: float | None
    blowup_detected_at: float | None
    steps: int
    evaluations: int
    config: str

    @property
    def trace(self) -> np.ndarray:
        """tr Σ(t)."""
        return np.trace(self.cov, axis1=1, axis2=2)


def simulate(model, mean, cov, t_end, dt=None, method="rk4", times=None, *, every=None, rtol=None, atol=None,
             max_steps=None, blowup_ratio=None, rank_tol=None) -> GaussianResult:
    """Solves the moment ODE of the Gaussian solution N(m(t), Σ(t)) of the Transformer PDE from
    N(mean, cov) ([C] §Gaussian data, SPEC §3): the same computation as ``attnflow gaussian`` for a
    configuration with this ``[model]`` (``geometry = "euclidean"``; kernel softmax, l2 or sinkhorn;
    no causal mask), ``[init] kind = "gaussian"`` with this mean and cov, and these ``[integrate]``
    / ``[output]`` keys. Σ is evolved as L Lᵀ (L̇ = M L) so it stays symmetric PSD.

    ``blowup_ratio`` (default 1e12): blow-up is declared when tr Σ exceeds it times tr Σ(0), and t*
    is then extrapolated; ``rank_tol`` (default 1e-6) sets the numerical rank of Σ/tr Σ. Other
    arguments as :func:`attnflow.simulate`.
    """
    config = {
        "model": model_table(model),
        "integrate": {"method": method, "dt": dt, "t_end": t_end, "rtol": rtol, "atol": atol,
                      "max_steps": max_steps},
        "output": {"times": _as_list(times), "every": every, "observables": []},
        "gaussian": {"blowup_ratio": blowup_ratio, "rank_tol": rank_tol},
    }
    raw = _core.gaussian_solve(config, mean, cov)
    return GaussianResult(**raw)


def field(model, mean, cov):
    """The affine velocity v(x) = b + M x of the Transformer PDE at μ = N(mean, cov), summed over
    heads ([C] §Gaussian data; softmax: b + M x = V(m + ΣA x), A = βKᵀQ): returns ``(b, M)``."""
    return _core.gaussian_field(model_table(model), mean, cov)


def w2(m1, s1, m2, s2) -> float:
    """The 2-Wasserstein (Bures) distance between N(m1, S1) and N(m2, S2):
    W2² = |m1 − m2|² + tr S1 + tr S2 − 2 tr (S1^{½} S2 S1^{½})^{½} (SPEC §4; used by [C], [M])."""
    return _core.gaussian_w2(m1, s1, m2, s2)
