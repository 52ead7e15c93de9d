"""The attention model: the ``[model]`` table of a configuration as a Python object."""
from __future__ import annotations

import copy
import os
import pathlib
import tomllib
from collections.abc import Mapping

import numpy as np

from . import _attnflow as _core


def input_error(key: str, what: str) -> _core.InputError:
    """An :class:`attnflow.InputError` ``"<key>: <what>"`` with ``.key`` set, as the engine raises."""
    err = _core.InputError(f"{key}: {what}")
    err.key = key
    return err


class Model:
    """An attention model: heads (Q, K, V, W), inverse temperature β, kernel, mask and geometry.

    The velocity of token i is v_i = Σ_h W_h Σ_j a^h_ij V_h x_j with attention weights a^h_ij formed
    from the scores s_ij = β⟨Q_h x_i, K_h x_j⟩ by the kernel ([C] §2 multi-head Transformer PDE;
    [R] §2 SA / USA); on the sphere it is projected, ẋ_i = P⊥_{x_i} v_i ([B], [R]).

    A ``Model`` holds exactly the keys of a TOML ``[model]`` table, which the C++ parser of
    ``attnflow run`` validates when the model is used with tokens (their dimension d is needed to
    check the matrices): ``geometry`` ("sphere" | "euclidean"), ``kernel`` (see
    :func:`attnflow.kernels`), ``beta``, ``Q``, ``K``, ``V``, ``W`` (default identity) or ``heads``
    (a list of dicts with Q, K, V, W), ``causal``, ``sigmoid_bias``, ``sinkhorn_iters``,
    ``sinkhorn_tol``, and the keys the engine adds (e.g. ``normalization``). Matrices may be NumPy
    arrays or nested lists; a value ``None`` means "absent" (the default applies).

    >>> Model(kernel="usa", beta=2.0)
    Model(kernel='usa', beta=2.0)
    >>> Model({"beta": 4.0}).replace(geometry="euclidean").to_dict()
    {'beta': 4.0, 'geometry': 'euclidean'}
    """

    def __init__(self, spec: Mapping | Model | None = None, /, **keys):
        if spec is None:
            table = {}
        elif isinstance(spec, Model):
            table = spec.to_dict()
        elif isinstance(spec, Mapping):
            table = copy.deepcopy(dict(spec))
        else:
            raise input_error("model", f"must be a dict (a TOML [model] table) or an attnflow.Model, "
                                       f"got {type(spec).__name__}")
        for key in table:
            if not isinstance(key, str):
                raise input_error("model", f"keys must be strings, got {type(key).__name__}")
        table.update(copy.deepcopy(keys))
        self._table = table

    def to_dict(self) -> dict:
        """The ``[model]`` table as a new dict (deep copy)."""
        return copy.deepcopy(self._table)

    def replace(self, **keys) -> Model:
        """A copy with some keys set (``None`` removes a key, so its default applies)."""
        table = self.to_dict()
        table.update(keys)
        return Model({k: v for k, v in table.items() if v is not None})

    @classmethod
    def from_toml(cls, source: str | os.PathLike) -> Model:
        """The ``[model]`` table of a TOML configuration, given as a path or as TOML text."""
        text = str(source)
        if isinstance(source, os.PathLike) or ("\n" not in text and "=" not in text):
            try:
                text = pathlib.Path(source).read_text()
            except OSError as e:
                raise input_error("config", f"cannot read '{source}': {e.strerror}") from None
        try:
            root = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise input_error("config", f"TOML parse error: {e}") from None
        table = root.get("model", {})
        if not isinstance(table, dict):
            raise input_error("model", "must be a table ([model])")
        return cls(table)

    def resolve(self, d: int) -> dict:
        """The model as the engine sees it for tokens of dimension ``d``: geometry, kernel, β, causal,
        normalization and every head's matrices (defaults filled in). Raises InputError exactly as
        ``attnflow run`` would for this ``[model]`` table."""
        return _core.model_info(self._table, int(d))

    def validate(self, d: int) -> None:
        """Checks the model for tokens of dimension ``d`` (InputError naming the key if invalid)."""
        self.resolve(d)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        a, b = self._table, other._table
        if a.keys() != b.keys():
            return False
        return all(_equal(a[k], b[k]) for k in a)

    def __repr__(self) -> str:
        parts = []
        for k, v in self._table.items():
            if isinstance(v, np.ndarray):
                parts.append(f"{k}=<array {'x'.join(map(str, v.shape))}>")
            elif isinstance(v, (list, tuple)) and v and isinstance(v[0], (list, tuple, np.ndarray, dict)):
                parts.append(f"{k}=<{len(v)} rows>" if k != "heads" else f"heads=<{len(v)} heads>")
            else:
                parts.append(f"{k}={v!r}")
        return f"Model({', '.join(parts)})"


def _equal(a, b) -> bool:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    sequences = (list, tuple, np.ndarray)
    if isinstance(a, sequences) and isinstance(b, sequences) and any(
            isinstance(v, Mapping) for v in [*a, *b]):
        return len(a) == len(b) and all(_equal(u, v) for u, v in zip(a, b))
    if isinstance(a, sequences) or isinstance(b, sequences):
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        except ValueError:  # ragged
            return False
    return a == b


def model_table(model) -> dict | None:
    """The plain ``[model]`` dict the engine takes, from a Model, a dict or None (default model)."""
    if model is None:
        return None
    if isinstance(model, Model):
        return model._table
    if isinstance(model, Mapping):
        return dict(model)
    raise input_error("model", f"must be a dict (a TOML [model] table) or an attnflow.Model, "
                               f"got {type(model).__name__}")
