"""Inverse-dynamics identification (sysid.inverse): the regressor, the 7-DoF arm, intervals under model error."""

import pathlib
import time

import mujoco
import numpy as np
import pytest

from sysid.data import Log
from sysid.errors import UserError
from sysid.inverse import FilterSpec, InverseOptions, fit_inverse
from sysid.inertial import standard_of as standard_from_model
from sysid.inverse.regressor import body_regressor, consistent, inverse_model, inverse_torques
from sysid.inverse.signals import prepare
from sysid.inverse.solve import build_problem, solve_linear
from sysid.params import parse_params
from sysid.sim import single_threaded_blas
from conftest import load_generator

REPO = pathlib.Path(__file__).resolve().parents[1]
PENDULUM = """<mujoco><option timestep="0.005"/><worldbody><body name="link"><joint name="hinge" axis="0 1 0"/>
<inertial pos="0.02 0 -0.3" mass="1.0" diaginertia="0.01 0.012 0.004"/></body></worldbody>
<actuator><motor name="m" joint="hinge"/></actuator></mujoco>"""


def pendulum_log(model, rng, *, seconds: float, rate: float, stribeck: float, noise: float) -> Log:
    """A random multisine swing (0.2-1.2 Hz) with its exact inverse-dynamics torque, plus viscous
    (0.05) and Coulomb (0.1 N m) friction, a Stribeck bump exp(-(qd / 1 rad/s)^2) of `stribeck` N m
    (which the fitted model lacks) and Gaussian torque noise."""
    t = np.arange(0, seconds, 1 / rate)
    w, a, phase = 2 * np.pi * rng.uniform(0.2, 1.2, 6), rng.normal(size=6), rng.uniform(0, 2 * np.pi, 6)
    a = a / w * 1.5 / np.abs((a / w)).sum()
    arg = np.outer(t, w) + phase
    q, qd, qdd = np.sin(arg) @ a, np.cos(arg) @ (a * w), -np.sin(arg) @ (a * w * w)
    data, tau = mujoco.MjData(model), np.empty(len(t))
    for i in range(len(t)):
        data.qpos[0], data.qvel[0], data.qacc[0] = q[i], qd[i], qdd[i]
        mujoco.mj_inverse(model, data)
        tau[i] = data.qfrc_inverse[0]
    sign = np.tanh(qd / 0.01)
    tau += 0.05 * qd + 0.1 * sign + stribeck * np.exp(-qd**2) * sign + rng.normal(0, noise, len(t))
    return Log("pendulum", t, {"hinge": q}, effort={"hinge": tau})


def test_regressor_is_exact():
    """Y phi + rest equals mj_inverse for another body's inertial (the dependence is linear)."""
    model = mujoco.MjModel.from_xml_string(PENDULUM)
    log = pendulum_log(model, np.random.default_rng(0), seconds=3, rate=100, stribeck=0, noise=0)
    samples = prepare(model, [log])
    Y, rest = body_regressor(model, [1], samples)
    other = mujoco.MjModel.from_xml_string(PENDULUM.replace('pos="0.02 0 -0.3" mass="1.0"', 'pos="0.1 0.05 -0.2" mass="2.5"'))
    phi = standard_from_model(other, 1)
    assert consistent(phi)
    direct = inverse_torques(inverse_model(other), samples)
    assert np.allclose(Y @ phi + rest, direct, atol=1e-9 * np.abs(direct).max())


def test_robust_intervals_cover_under_model_error():
    """Unmodelled Stribeck friction: residuals correlated over each swing. Over 60 random excitations the
    window-robust 95% intervals of the inertial base parameters cover the truth >= 90%; the Jacobian
    ones (independent residuals assumed) far less."""
    model = mujoco.MjModel.from_xml_string(PENDULUM)
    params = parse_params("inertial@link", model)
    options = InverseOptions(friction=("viscous", "coulomb"), filter=FilterSpec(cutoff_hz=20, block_s=1.0))
    truth = np.concatenate([standard_from_model(model, 1), [0.05, 0.1]])
    robust, jacobian = [], []
    with single_threaded_blas():  # threaded BLAS on these small products is many times slower
        for k in range(60):
            log = pendulum_log(model, np.random.default_rng(k), seconds=20, rate=100, stribeck=0.5, noise=0.002)
            problem = build_problem(model, [log], params, options)
            lin = solve_linear(problem, bootstrap=100, seed=k)
            inertial = lin.base.index < 10
            true_beta = lin.base.project(truth)[inertial]
            lo, hi = lin.ci95_robust[inertial].T
            robust.append((lo <= true_beta) & (true_beta <= hi))
            jacobian.append(np.abs(lin.beta[inertial] - true_beta) <= 1.96 * lin.std_jacobian[inertial])
    robust, jacobian = np.mean(robust), np.mean(jacobian)
    print(f"coverage of the 95% intervals: window-robust {robust:.1%}, Jacobian {jacobian:.1%}")
    assert robust >= 0.90
    assert jacobian <= 0.75


def _arm7():
    return load_generator('arm7')


def test_arm7_inverse_recovers_base_parameters(tmp_path):
    """The Panda from its DH table, 8 s of excitation: every base parameter that moves the torques by
    more than twice the torque noise (0.1 N m RMS) within 2%, all bodies consistent, in seconds (the
    20 s benchmark, benchmarks/inverse_arm7.py, holds 2% down to once the noise)."""
    gen = _arm7()
    gen.write_models(tmp_path)
    frame = gen.simulate(8.0, seed=1, model_path=tmp_path / "arm7.xml")
    log = Log("arm7", frame["time"].to_numpy(), {j: frame[f"{j}.pos"].to_numpy() for j in gen.JOINTS},
              effort={j: frame[f"{j}.effort"].to_numpy() for j in gen.JOINTS})
    model = mujoco.MjModel.from_xml_path(str(tmp_path / "arm7_initial.xml"))
    truth = mujoco.MjModel.from_xml_path(str(tmp_path / "arm7.xml"))
    params = parse_params("inertial,damping,frictionloss", model)
    start = time.perf_counter()
    result = fit_inverse(model, [log], params, InverseOptions(friction=("viscous", "coulomb"), bootstrap=50))
    wall = time.perf_counter() - start
    problem = result.problem
    p_true = np.concatenate([*(standard_from_model(truth, truth.body(b).id) for b in problem.body_names),
                             [gen.VISCOUS[gen.JOINTS.index(n.split("@")[1])] if n.startswith("viscous") else
                              gen.COULOMB[gen.JOINTS.index(n.split("@")[1])] for n in problem.names[70:]]])
    beta = result.linear.base.project(p_true)
    WB = problem.W[:, result.linear.base.index]
    significant = np.sqrt(np.mean((WB * beta) ** 2, axis=0)) > 2 * gen.TORQUE_NOISE
    error = np.abs(result.beta_consistent / beta - 1)
    print(f"{wall:.2f} s, rank {len(beta)}, {significant.sum()} significant, max error {error[significant].max():.2%}")
    assert significant.sum() >= 12 and error[significant].max() < 0.02
    assert result.consistent.all()
    assert wall < 30
    spec = mujoco.MjSpec.from_file(str(tmp_path / "arm7_initial.xml"))
    result.params.write_spec(spec, model, result.values)
    spec.compile()  # MuJoCo's own inertia checks pass for every fitted body


def test_no_effort_column_is_a_user_error():
    model = mujoco.MjModel.from_xml_string(PENDULUM)
    log = Log("run.csv", np.arange(100) * 0.01, {"hinge": np.zeros(100)})
    with pytest.raises(UserError, match="effort"):
        fit_inverse(model, [log], parse_params("inertial@link", model))
    with pytest.raises(UserError, match="mass@link"):
        fit_inverse(model, [log], parse_params("mass@link", model))


def test_cli_objective_inverse_and_forward_inverse(tmp_path, capsys):
    """`sysid fit --objective inverse` writes the inverse report and robust errors; forward+inverse
    starts the forward fit there and keeps the body consistent; --actuator is refused (exit 2)."""
    import json

    import pandas as pd

    from sysid.cli import main
    from sysid.inertial import pseudo_from_standard as pseudo_inertia

    (tmp_path / "pendulum.xml").write_text(PENDULUM)
    truth = mujoco.MjModel.from_xml_string(PENDULUM.replace('mass="1.0"', 'mass="1.3"'))
    log = pendulum_log(truth, np.random.default_rng(3), seconds=6, rate=200, stribeck=0.0, noise=0.01)
    pd.DataFrame({"time": log.time, "hinge.pos": log.pos["hinge"], "hinge.effort": log.effort["hinge"],
                  "m.ctrl": log.effort["hinge"]}).to_csv(tmp_path / "run.csv", index=False)
    (tmp_path / "fit.yaml").write_text("optimizer: lsq\nhorizons: [0.25]\noptimizer_options: {lsq: {max_iterations: 3}}\n"
                                       "inverse: {friction: [viscous, coulomb], bootstrap: 20}\n")
    base = ["fit", "--model", str(tmp_path / "pendulum.xml"), "--log", str(tmp_path / "run.csv"), "--params",
            "inertial@link,damping,frictionloss", "--config", str(tmp_path / "fit.yaml"), "--quiet"]
    assert main([*base, "--objective", "inverse", "--out", str(tmp_path / "inv")]) == 0
    result = json.loads((tmp_path / "inv" / "result.json").read_text())
    inv = result["inverse"]
    assert inv["objective"] == "inverse" and inv["filter"]["cutoff_hz"] == 10 and inv["rank"] == 5
    gravity = next(b for b in inv["base_parameters"] if b["combination"] == "mz@link")
    assert abs(gravity["linear"] / (-1.3 * 0.3) - 1) < 0.02  # m c of the truth
    assert all(np.isfinite(p["robust_std"]) for p in result["params"].values())
    assert inv["torque_rmse"]["hinge"] < 0.1 * inv["torque_rmse_initial"]["hinge"]
    assert main([*base, "--objective", "forward+inverse", "--out", str(tmp_path / "both")]) == 0
    both = json.loads((tmp_path / "both" / "result.json").read_text())
    assert both["inverse"]["weights"] == {"forward": 1.0, "inverse": 1.0} and both["optimizer"].startswith("inverse+")
    fitted = mujoco.MjModel.from_xml_path(str(tmp_path / "both" / "calibrated.xml"))
    assert np.linalg.eigvalsh(pseudo_inertia(standard_from_model(fitted, 1))).min() > 0
    capsys.readouterr()
    assert main([*base, "--objective", "inverse", "--actuator", "friction@hinge", "--out", str(tmp_path / "x")]) == 2
    assert "--actuator" in capsys.readouterr().err


def test_randomization_uses_the_wider_robust_std():
    from sysid.randomization import from_result

    params = {"damping@hinge": {"value": 1.0, "lower": 0.0, "upper": 5.0, "std": 0.01, "robust_std": 0.04},
              "armature@hinge": {"value": 1.0, "lower": 0.0, "upper": 5.0, "std": 0.05, "robust_std": 0.02}}
    dists = from_result({"params": params}, widen=2.0).params
    assert dists["damping@hinge"].scale == pytest.approx(0.08) and dists["damping@hinge"].fit_std == pytest.approx(0.04)
    assert dists["armature@hinge"].scale == pytest.approx(0.10)


def test_sigmoid_friction_of_gaz_et_al():
    """0.1 tanh(qd / 0.01) is Gaz et al.'s sigmoid with phi1 = 0.2, phi2 = 200, phi3 = 0: the nonlinear solve
    finds its level, and frictionloss carries phi1 / 2."""
    model = mujoco.MjModel.from_xml_string(PENDULUM)
    log = pendulum_log(model, np.random.default_rng(5), seconds=10, rate=200, stribeck=0.0, noise=0.005)
    params = parse_params("inertial@link,damping,frictionloss", model)
    result = fit_inverse(model, [log], params, InverseOptions(friction=("viscous", "sigmoid"), bootstrap=0))
    values = dict(zip(result.params.names, result.values))
    print(result.extra, values["damping@hinge"], values["frictionloss@hinge"])
    assert result.extra["sigmoid@hinge.phi1"] == pytest.approx(0.2, rel=0.1)
    assert values["frictionloss@hinge"] == pytest.approx(0.1, rel=0.1)
    assert values["damping@hinge"] == pytest.approx(0.05, rel=0.2)


def test_friction_parameter_without_its_model_is_a_user_error():
    model = mujoco.MjModel.from_xml_string(PENDULUM)
    log = pendulum_log(model, np.random.default_rng(0), seconds=2, rate=100, stribeck=0, noise=0)
    with pytest.raises(UserError, match="damping@hinge"):
        fit_inverse(model, [log], parse_params("damping", model), InverseOptions(friction=("coulomb",)))
