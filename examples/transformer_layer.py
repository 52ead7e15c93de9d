"""One residual multi-head attention layer is one Euler step with dt = 1 (docs/kernels.md, "A real
transformer layer"): x ← x + concat_h(softmax(Q_h K_hᵀ/√k) V_h) W_o, with attnflow's matrices
Q_h = W_q[:, h]ᵀ, V_h = W_v[:, h]ᵀ, W_h = W_o[h, :]ᵀ and β = 1/√k ([C] §2: depth is time).

    PYTHONPATH=build/python python3 examples/transformer_layer.py
"""
import argparse

import numpy as np

import attnflow as af


def layer(x, wq, wk, wv, wo, heads):
    """A NumPy multi-head attention layer with residual connection (row convention)."""
    n, d = x.shape
    k = wq.shape[1] // heads
    outs = []
    for h in range(heads):
        sl = slice(h * k, (h + 1) * k)
        s = (x @ wq[:, sl]) @ (x @ wk[:, sl]).T / np.sqrt(k)
        a = np.exp(s - s.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        outs.append(a @ (x @ wv[:, sl]))
    return x + np.concatenate(outs, axis=1) @ wo


def main() -> None:
    rng = np.random.default_rng(0)
    n, d, heads, k = 10, 8, 2, 4
    x = rng.standard_normal((n, d))
    wq, wk, wv = (rng.standard_normal((d, heads * k)) / np.sqrt(d) for _ in range(3))
    wo = rng.standard_normal((heads * k, d)) / np.sqrt(heads * k)
    model = af.Model(geometry="euclidean", beta=1 / np.sqrt(k), heads=[
        {"Q": wq[:, h * k:(h + 1) * k].T, "K": wk[:, h * k:(h + 1) * k].T, "V": wv[:, h * k:(h + 1) * k].T,
         "W": wo[h * k:(h + 1) * k, :].T} for h in range(heads)])
    res = af.simulate(model, x, t_end=1.0, dt=1.0, method="euler", times=[1.0])
    expected = layer(x, wq, wk, wv, wo, heads)
    err = np.max(np.abs(res.x[-1] - expected))
    print(f"max |attnflow euler step - numpy layer| = {err:.2e}")
    assert err < 1e-12


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n")[0]).parse_known_args()
    main()
