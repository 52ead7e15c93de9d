"""attnflow: deep Transformers as interacting particle systems, from Python.

Each token is a particle, each attention layer moves it, depth is time; as the number of tokens grows
the empirical measure follows the Transformer PDE. The C++ engine of the ``attnflow`` command line
does the work (streaming O(N·d)-memory attention, exact and adaptive integrators); this package gives
it NumPy arrays and makes the papers' pictures.

References (the tags used in every docstring):

* [C] Castin, Ablin, Carrillo, Peyré, *A Unified Perspective on the Dynamics of Deep Transformers*,
  arXiv:2501.18322.
* [B] Burger, Kabri, Korolev, Roith, Weigand, *Analysis of mean-field models arising from
  self-attention dynamics in transformer architectures with layer normalization*, arXiv:2501.03096.
* [M] *Multi-Headed Transformer Architectures as Time-dependent Wasserstein Gradient Flows*,
  arXiv:2605.18870.
* [R] Rigollet, *The Mean-Field Dynamics of Transformers*, arXiv:2512.01868.

A model is the ``[model]`` table of a TOML configuration, given as a dict or a :class:`Model`; it is
parsed and validated by the same C++ code as ``attnflow run``, so the keys, defaults and error
messages are the same (``model.beta: must be finite and > 0, got -1``). Every problem with an
argument raises :class:`InputError`, a ``ValueError`` whose text starts with the key or argument name.

>>> import attnflow, numpy as np
>>> x0 = attnflow.init.uniform_sphere(64, 3, seed=1)
>>> res = attnflow.simulate({"kernel": "softmax", "beta": 1.0}, x0, t_end=15.0, dt=0.05,
...                         observables=["energy", "clusters"])
>>> res.x.shape, int(res.clusters[-1])            # doctest: +SKIP
((101, 64, 3), 1)

See docs/python.md for the whole API.
"""
from . import _attnflow as _core
from ._attnflow import InputError, NumericalError, __version__
from .api import (Clusters, Result, Run, attention, clusters, energy, energy_gradient, get_threads,
                  initial_tokens, kernels, load, observables, run, set_threads, simulate, velocity,
                  wasserstein2)
from .model import Model
from . import equiangular, gaussian, init

__all__ = [
    "Model", "velocity", "attention", "simulate", "energy", "energy_gradient", "clusters", "wasserstein2",
    "load", "run", "initial_tokens", "kernels", "observables", "set_threads", "get_threads", "Result", "Run",
    "Clusters", "InputError", "NumericalError", "gaussian", "equiangular", "init", "plot", "animate",
    "__version__",
]


def __getattr__(name):
    # matplotlib is imported only when plots or animations are asked for.
    if name in ("plot", "animate"):
        import importlib
        module = importlib.import_module("." + name, __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'attnflow' has no attribute '{name}'")
