"""[M]'s time-dependent energy through the command line: energy_t and energy_dt against NumPy
(weights written out from their definitions), the dissipation-identity residual's order 4 with rk4,
and the experiments' quick configurations."""
import pathlib

import h5py
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(4)
D = 3
N = 9
X0 = RNG.normal(size=(N, D))
X0 /= np.linalg.norm(X0, axis=1, keepdims=True)
K_BASE, K_AMP = np.eye(D), 0.5 * RNG.normal(size=(D, D))
Q1 = RNG.normal(size=(D, D)) / np.sqrt(D)
OMEGA, PHASE, BETA = 2.0, 0.3, 1.3


def config(dt, t_end=1.0, method="rk4"):
    return f"""
[model]
geometry = "sphere"
beta = {BETA}
[[model.heads]]
K = {{ kind = "sinusoid", base = {K_BASE.tolist()}, amplitude = {K_AMP.tolist()}, omega = {OMEGA}, phase = {PHASE} }}
V = {{ kind = "sinusoid", base = {K_BASE.tolist()}, amplitude = {K_AMP.tolist()}, omega = {OMEGA}, phase = {PHASE} }}
[[model.heads]]
Q = {Q1.tolist()}
[init]
kind = "points"
points = {X0.tolist()}
[integrate]
method = "{method}"
dt = {dt}
t_end = {t_end}
[output]
every = 0.25
observables = ["energy_t", "energy_dt", "dissipation_residual"]
"""


def run(run_cli, tmp_path, text, out):
    (tmp_path / f"{out}.toml").write_text(text)
    r = run_cli("run", f"{out}.toml", "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / out / "run.h5", "r") as f:
        return {k: f[k][()] for k in ("t", "x", "energy_t", "energy_dt", "dissipation_residual")}


def test_energy_and_partial_derivative_match_numpy(tmp_path, run_cli):
    res = run(run_cli, tmp_path, config(0.01), "a")
    for t, x, e, e_dt in zip(res["t"], res["x"], res["energy_t"], res["energy_dt"]):
        k = K_BASE + K_AMP * np.sin(OMEGA * t + PHASE)
        k_dot = K_AMP * OMEGA * np.cos(OMEGA * t + PHASE)
        ds = [BETA * k, BETA * Q1.T]          # D_h = beta Q_h^T K_h (head 1: K = I)
        ds_dot = [BETA * k_dot, np.zeros((D, D))]
        w = 1.0 / N
        energy = sum(np.exp(x @ dh @ x.T).sum() for dh in ds) * w * w / (2 * len(ds))
        partial = sum((np.exp(x @ dh @ x.T) * (x @ dd @ x.T)).sum() for dh, dd in zip(ds, ds_dot)) \
            * w * w / (2 * len(ds))
        assert e == pytest.approx(energy, rel=1e-12)
        assert e_dt == pytest.approx(partial, rel=1e-10, abs=1e-13)


def test_residual_converges_at_order_four_with_rk4(tmp_path, run_cli):
    dts = [0.1, 0.05, 0.025]
    residuals = [abs(run(run_cli, tmp_path, config(dt), f"r{i}")["dissipation_residual"][-1])
                 for i, dt in enumerate(dts)]
    order = np.polyfit(np.log(dts), np.log(residuals), 1)[0]
    assert 3.5 <= order <= 4.5, (residuals, order)
    assert residuals[0] > 1e-12  # measured, not round-off


@pytest.mark.parametrize("name", ["M_ou_quick.toml", "M_oscillating_quick.toml"])
def test_M_quick_experiments_keep_the_identity(tmp_path, run_cli, name):
    # The experiments' own step dt = 5e-3 and its half (the OU grid stays 5e-3): the residual is
    # small next to the energy and shrinks by 2^4 = 16 (rk4).
    finals = []
    for dt in (5e-3, 2.5e-3):
        r = run_cli("run", str(ROOT / "experiments" / name), "-o", f"out{dt}", "-q",
                    "--set", "integrate.t_end=0.5", "--set", f"integrate.dt={dt}")
        assert r.returncode == 0, r.stderr
        with h5py.File(tmp_path / f"out{dt}" / "run.h5", "r") as f:
            energy, residual = f["energy_t"][()], f["dissipation_residual"][()]
        assert np.all(np.isfinite(energy)) and np.all(energy > 0)
        assert np.max(np.abs(residual)) < 1e-6 * np.max(energy)
        finals.append(abs(residual[-1]))
    assert 11 < finals[0] / finals[1] < 22, finals
