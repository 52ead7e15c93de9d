"""Initial token configurations, the same samples as a configuration's ``[init]`` section (same seed,
same tokens, on any platform: std::mt19937_64 and Box–Muller in the engine)."""
from __future__ import annotations

import numpy as np

from . import _attnflow as _core

__all__ = ["uniform_sphere", "gaussian", "equiangular"]


def uniform_sphere(n: int, d: int, seed: int = 0) -> np.ndarray:
    """n tokens uniform on S^{d−1} (normalised standard Gaussian vectors): ``init.kind =
    "uniform_sphere"``, the initial law of [R]'s clustering theorems."""
    return _core.uniform_sphere(int(n), int(d), int(seed))


def gaussian(n: int, mean, cov, seed: int = 0) -> np.ndarray:
    """n samples of N(mean, cov) (cov symmetric PSD, possibly singular): ``init.kind = "gaussian"``,
    the data of [C]'s Gaussian solutions."""
    return _core.gaussian_tokens(int(n), mean, cov, int(seed))


def equiangular(n: int, d: int, rho: float) -> np.ndarray:
    """n unit vectors in R^d (d ≥ n) with all ⟨x_i, x_j⟩ = rho ∈ [−1/(n−1), 1]: ``init.kind =
    "equiangular"``, the initial data of [R]'s equiangular model."""
    return _core.equiangular_tokens(int(n), int(d), float(rho))
