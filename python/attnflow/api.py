"""The particle engine from Python: velocities, simulations, energies, clusters, Wasserstein distances,
run files. Every function takes NumPy arrays (see "Arrays" below) and a model (a :class:`Model` or
the dict of a TOML ``[model]`` table; ``None`` is the default model: one head Q = K = V = I,
softmax attention, β = 1, on the sphere).

Arrays: float64 C-contiguous arrays are read in place. Other floating dtypes (float32, ...) and
non-contiguous or read-only arrays are accepted and converted once to float64 C order; inputs are
never modified. Integer, boolean, complex and object arrays, wrong shapes and NaN / infinite entries
raise :class:`attnflow.InputError` (a ``ValueError``) naming the argument, e.g.
``x: must be a 2-D array of shape (N, d), got shape (5,)``. Lists are converted with
``numpy.asarray(dtype=float64)``. The GIL is released while the engine computes.
"""
from __future__ import annotations

import json
import os
import pathlib
from dataclasses import dataclass, field

import numpy as np

from . import _attnflow as _core
from .model import Model, input_error, model_table

__all__ = ["velocity", "attention", "simulate", "energy", "energy_gradient", "clusters", "wasserstein2",
           "load", "run", "initial_tokens", "kernels", "observables", "set_threads", "get_threads", "Result",
           "Run", "Clusters"]


def _number(value, name):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise input_error(name, f"must be a number, got {type(value).__name__}") from None


def velocity(model, x, t=0.0, weights=None, positions=None) -> np.ndarray:
    """Velocity ẋ_i = F(t, x)_i of every token (N×d array).

    In R^d (``geometry = "euclidean"``) this is the attention output v_i = Σ_h W_h Σ_j a^h_ij V_h x_j
    of the Transformer PDE ∂_t μ + ∇·(μ v[μ]) = 0 ([C], the Transformer PDE and its multi-head form); on the sphere the
    tangent part P⊥_{x_i} v_i = v_i − ⟨x_i, v_i⟩x_i ([B] with layer normalisation, [R] SA / USA). Attention weights
    a_ij follow the kernel (docs/kernels.md): softmax w_j e^{s_ij}/Σ_k w_k e^{s_ik} ([R] SA), usa
    w_j e^{s_ij} ([R] USA), l2, sigmoid, sinkhorn, hardmax ([C]).

    Parameters
    ----------
    model : Model, dict or None
    x : (N, d) float array of tokens (unit vectors on the sphere, within 1e-9).
    t : time (matters for time-dependent normalisation schemes only).
    weights : (N,) token masses w_i ≥ 0 summing to 1 (default 1/N).
    positions : (N,) sequence positions for causal masks (default 0..N−1).
    """
    return _core.velocity(model_table(model), x, _number(t, "t"), weights, positions, False)


def attention(model, x, t=0.0, weights=None, positions=None) -> np.ndarray:
    """The raw attention output A(x)_i = Σ_h W_h Σ_j a^h_ij V_h x_j (N×d) before any projection: the
    residual branch of one attention layer ([C] §2; docs/kernels.md "A real transformer layer").
    Arguments as :func:`velocity`."""
    return _core.velocity(model_table(model), x, _number(t, "t"), weights, positions, True)


@dataclass
class Result:
    """What :func:`simulate` returns.

    Attributes: ``t`` (T output times), ``x`` (T×N×d tokens, or None with ``trajectory=False``),
    one attribute per requested observable (T values, e.g. ``energy``, ``clusters``), ``radius``
    (T×N token norms for normalisation schemes with radii, else None), ``weights``, ``positions``,
    ``observables`` (name → array), ``steps``, ``rejected``, ``evaluations`` (integrator counts),
    ``config`` (the resolved configuration as TOML text, as a run file stores it; its ``[init]``
    records only n and d, the tokens being ``x0``).
    """
    t: np.ndarray
    x: np.ndarray | None
    observables: dict = field(default_factory=dict)
    radius: np.ndarray | None = None
    weights: np.ndarray | None = None
    positions: np.ndarray | None = None
    steps: int = 0
    rejected: int = 0
    evaluations: int = 0
    config: str = ""

    def __getattr__(self, name):
        observables = self.__dict__.get("observables", {})
        if name in observables:
            return observables[name]
        raise AttributeError(f"'Result' has no attribute '{name}' (observables recorded: "
                             f"{', '.join(observables) or 'none'})")

    def __getitem__(self, name):
        return self.observables[name]

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.observables))

    def __repr__(self):
        shape = "None" if self.x is None else "x".join(map(str, self.x.shape))
        return (f"Result(frames={len(self.t)}, x={shape}, observables=[{', '.join(self.observables)}], "
                f"steps={self.steps})")


def _result(raw) -> Result:
    return Result(t=raw["t"], x=raw["x"], observables=dict(raw["observables"]), radius=raw["radius"],
                  weights=raw["weights"], positions=raw["positions"], steps=raw["steps"],
                  rejected=raw["rejected"], evaluations=raw["evaluations"], config=raw["config"])


def _as_list(value):
    if isinstance(value, np.ndarray):
        return value.tolist() if value.ndim > 0 else [value.item()]
    return value


def simulate(model, x0, t_end, dt=None, method="rk4", times=None, observables=(), weights=None, *,
             positions=None, every=None, rtol=None, atol=None, max_steps=None, cluster_threshold=None,
             trajectory=True, gaussian=None) -> Result:
    """Integrates the particle system from ``x0`` to ``t_end`` and records frames and observables.

    The same computation as ``attnflow run`` with this ``[model]``, these ``[integrate]`` and
    ``[output]`` keys and the tokens ``x0``: the results are bitwise those of the run file.
    Methods ([R], [C]): ``"euler"`` is the discrete transformer (x ← x + dt·A(x), renormalised on
    the sphere; dt = 1 is one residual attention layer), ``"rk4"``, ``"dopri5"`` (adaptive, rtol /
    atol). Output times are hit exactly.

    Parameters
    ----------
    model : Model, dict or None
    x0 : (N, d) initial tokens.
    t_end : final time (integrate.t_end).
    dt : step of euler / rk4, first step of dopri5 (default 0.1, as the CLI).
    method : "euler" | "rk4" | "dopri5".
    times : output times in [0, t_end], strictly increasing (output.times); default: ``every``.
    observables : names from :func:`observables` (output.observables), e.g. ("energy", "clusters").
    weights, positions : token masses and sequence positions (see :func:`velocity`).
    every : output interval (output.every; default t_end/100).
    rtol, atol, max_steps : integrator settings (integrate.*).
    cluster_threshold : δ of the clusters / pair_fraction observables (default 1e-3, [R]; SPEC §4).
    trajectory : keep the tokens of every frame (``Result.x``).
    gaussian : (mean, cov) of the law x0 was sampled from, for the gaussian_* observables ([C]).

    Errors in these settings name the configuration key, with the CLI's message
    (``integrate.dt: must be finite and > 0, got 0``). If the state stops being finite,
    :class:`attnflow.NumericalError` is raised with ``.result`` holding the frames up to the last
    good output time.
    """
    if isinstance(observables, str):
        observables = [observables]
    config = {
        "model": model_table(model),
        "integrate": {"method": method, "dt": dt, "t_end": t_end, "rtol": rtol, "atol": atol,
                      "max_steps": max_steps},
        "output": {"times": _as_list(times), "every": every, "observables": list(observables),
                   "trajectory": bool(trajectory), "cluster_threshold": cluster_threshold},
    }
    mean, cov = (None, None) if gaussian is None else gaussian
    raw = _core.simulate(config, x0, weights, positions, mean, cov)
    result = _result(raw)
    if raw["error"] is not None:
        err = _core.NumericalError(raw["error"])
        err.result = result
        raise err
    return result


def energy(model, x, weights=None, kind="energy", log=False) -> float:
    """Interaction energy of the empirical measure μ = Σ_i w_i δ_{x_i}.

    kind = ``"energy"``: E(μ) = Σ_h 1/(2β) ∬ e^{β⟨Q_h x, K_h y⟩} dμ dμ ([R] the energy E_β; USA
    with V = QᵀK symmetric is its Wasserstein gradient ascent, SA an ascent for a modified metric);
    ``"energy_b"``: ½ Σ_h ∬ e^{⟨x, D_h y⟩} dμ dμ with D_h = βQ_hᵀK_h ([B]'s interaction energy); ``"normalized_energy"``:
    Σ_ij w_i w_j e^{β(⟨x_i,x_j⟩−1)} ([R]; SPEC §4, = 1 iff all tokens coincide). Masks are ignored.
    ``log=True`` returns log E, finite when E overflows (large β).
    """
    return _core.energy(model_table(model), x, weights, str(kind), bool(log))


def energy_gradient(model, x, weights=None) -> np.ndarray:
    """∇_{x_i} E of the ``"energy"`` of :func:`energy` for every token (N×d): the exact dissipation
    along a velocity ẋ is Σ_i ⟨∇_{x_i} E, ẋ_i⟩ ([R] energy / gradient-flow structure; [M] energy-dissipation identity, eq. (81))."""
    return _core.energy_gradient(model_table(model), x, weights)


@dataclass(frozen=True)
class Clusters:
    """Connected components of the δ-similarity graph ⟨x̂_i, x̂_j⟩ > 1 − δ ([R]; SPEC §4): ``count``,
    ``labels`` (component of each token, numbered by first appearance), ``pair_fraction``
    (fraction of pairs i < j that are linked) and ``sizes`` (descending)."""
    count: int
    labels: np.ndarray
    pair_fraction: float

    @property
    def sizes(self) -> np.ndarray:
        return np.sort(np.bincount(self.labels, minlength=self.count))[::-1]


def clusters(x, threshold=1e-3) -> Clusters:
    """Clusters of tokens: i and j are linked when ⟨x_i/|x_i|, x_j/|x_j|⟩ > 1 − threshold, clusters
    are the connected components ([R]; SPEC §4, δ = 10⁻³ in its phase diagram). Exact and deterministic
    (a cell grid for d ≤ 3, all pairs otherwise)."""
    raw = _core.clusters(x, _number(threshold, "threshold"))
    return Clusters(count=int(raw["count"]), labels=raw["labels"], pair_fraction=float(raw["pair_fraction"]))


def wasserstein2(x, y, a=None, b=None, method="exact", *, epsilon=1e-2, projections=200, seed=0,
                 positions_x=None, positions_y=None) -> float:
    """The 2-Wasserstein distance W2(μ, ν) between μ = Σ_i a_i δ_{x_i} and ν = Σ_j b_j δ_{y_j}
    (cost |x − y|²; SPEC §4, [R] mean-field rates, [M] stability).

    method: ``"exact"`` (network simplex, N·M ≤ 2²²), ``"sinkhorn"`` (√ of the Sinkhorn divergence
    at ``epsilon``), ``"sliced"`` (Monte Carlo over ``projections`` directions from ``seed``),
    ``"gaussian"`` (Bures distance of the moment-matched Gaussians), ``"conditional"`` (per sequence
    position, for causal attention [C]; uses ``positions_x`` / ``positions_y``, default 0..N−1).
    Masses default to uniform. Returns the distance, not its square.
    """
    return _core.wasserstein2(x, y, a, b, positions_x, positions_y, str(method), _number(epsilon, "epsilon"),
                              int(projections), int(seed))


@dataclass
class Run:
    """A run file (``OUTDIR/run.h5`` of ``attnflow run``) read back by :func:`load`.

    Attributes: ``t`` (T), ``x`` (T×N×d or None), ``weights``, ``positions``, ``observables``
    (name → T values, also as attributes: ``run.energy``), ``config`` (the resolved TOML text),
    ``version``, ``path``; ``model`` (the :class:`Model` of the run) and ``summary`` (the
    ``summary.json`` next to the file, or None) on demand.
    """
    path: str
    t: np.ndarray
    x: np.ndarray | None
    weights: np.ndarray
    positions: np.ndarray
    observables: dict
    config: str
    version: str

    def __getattr__(self, name):
        observables = self.__dict__.get("observables", {})
        if name in observables:
            return observables[name]
        raise AttributeError(f"'Run' has no attribute '{name}' (observables stored: "
                             f"{', '.join(observables) or 'none'})")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.observables))

    @property
    def model(self) -> Model:
        return Model.from_toml(self.config)

    @property
    def summary(self) -> dict | None:
        path = pathlib.Path(self.path).with_name("summary.json")
        return json.loads(path.read_text()) if path.exists() else None

    def __repr__(self):
        shape = "None" if self.x is None else "x".join(map(str, self.x.shape))
        return f"Run('{self.path}', frames={len(self.t)}, x={shape}, observables=[{', '.join(self.observables)}])"


def load(path) -> Run:
    """Reads a run file written by ``attnflow run`` (or :func:`run`): a path to ``run.h5`` or to
    its output directory. The file is checked as the CLI's analysis commands check it (same
    messages, e.g. ``runs/a.h5: is not an attnflow run file (no 'version' attribute)``)."""
    raw = _core.load(os.fspath(path))
    return Run(path=raw["path"], t=raw["t"], x=raw["x"], weights=raw["weights"], positions=raw["positions"],
               observables=dict(raw["observables"]), config=raw["config"], version=raw["version"])


def _config_arg(config):
    if isinstance(config, Model):
        raise input_error("config", "must be a whole configuration (dict of sections, TOML text or path), "
                                    "not a Model; use {'model': model.to_dict(), ...}")
    if isinstance(config, dict):
        return {k: (model_table(v) if k == "model" and isinstance(v, Model) else v) for k, v in config.items()}
    return config


def run(config, outdir, overrides=()) -> dict:
    """Runs a configuration exactly as ``attnflow run CONFIG -o OUTDIR --set ...`` does, writing
    ``OUTDIR/run.h5`` and ``OUTDIR/summary.json``; returns the summary. ``config`` is a path, a TOML
    text or a dict of sections ({"model": ..., "init": ..., "integrate": ..., "output": ...}).
    The GIL is held (the run writes HDF5, which is not thread-safe)."""
    return json.loads(_core.run(_config_arg(config), os.fspath(outdir), [str(o) for o in overrides]))


def initial_tokens(config, overrides=()):
    """The initial tokens of a configuration's ``[init]`` (the same samples as ``attnflow run``):
    ``(x, weights, positions)``."""
    return _core.initial_tokens(_config_arg(config), [str(o) for o in overrides])


def kernels() -> list[dict]:
    """The registered attention kernels (name, summary, reference, normalized): the names
    ``model.kernel`` accepts, from the engine's registry (docs/kernels.md)."""
    return [dict(k) for k in _core.KERNELS]


def observables() -> list[dict]:
    """The registered observables (name, summary, ...): the names :func:`simulate` and
    ``output.observables`` accept."""
    return [dict(o) for o in _core.OBSERVABLES]


def set_threads(n: int) -> None:
    """Number of OpenMP threads of the engine (0: all cores). Results do not depend on it."""
    _core.set_threads(int(n))


def get_threads() -> int:
    """Number of OpenMP threads the engine uses."""
    return _core.get_threads()
