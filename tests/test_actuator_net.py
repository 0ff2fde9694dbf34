"""Tests for actuator networks: supervised training, the file pair, running in the loop, `sysid actuator train`."""

from __future__ import annotations

import copy
import json

import mujoco
import numpy as np
import pandas as pd
import pytest
import torch

from actuator_models.network import NetConfig, load_network
from actuator_models.train import TrainConfig, log_segment, train_network
from sysid.cli import main
from sysid.closedloop import Binding, ClosedLoop
from sysid.data import Log
from sysid.errors import UserError
from sysid.params import ParamSet
from sysid.sim import Simulator

RATE = 100.0  # Hz
KP, KD, LIMIT, DELAY = 20.0, 0.5, 3.0, 0.02  # N m/rad, N m s/rad, N m, s: the "true" actuator


def _multisine(t: np.ndarray, rng: np.random.Generator, amplitude: float, f_hi: float) -> np.ndarray:
    freqs = rng.uniform(0.1, f_hi, 6)
    u = np.sin(2 * np.pi * freqs * t[:, None] + rng.uniform(0, 6, 6)).sum(axis=1)
    return amplitude * u / np.abs(u).max()


def delayed_saturating_pd_log(seconds: float, seed: int, source: str = "pd.csv") -> Log:
    """A log of a known actuator: tau = clip(KP (target(t - DELAY) - q) - KD qd, +-LIMIT)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    q = _multisine(t, rng, 1.0, 1.5)
    qd = np.gradient(q, t)
    target = q + _multisine(t, rng, 0.3, 3.0)
    lag = int(round(DELAY * RATE))
    delayed = np.concatenate([np.full(lag, target[0]), target[:-lag]])
    tau = np.clip(KP * (delayed - q) - KD * qd, -LIMIT, LIMIT)
    return Log(source, t, {"knee": q}, {"knee": qd}, {"knee": tau}, {"knee_motor": target})


def test_supervised_mlp_reproduces_a_delayed_saturating_pd():
    logs = [delayed_saturating_pd_log(30.0, seed) for seed in range(2)]
    segments = [log_segment(log, "knee", None, 1 / RATE) for log in logs]
    config = TrainConfig(history=4, hidden=(32, 32), epochs=40, patience=8, batch_size=128, lr=5e-3)
    result = train_network(segments, 1 / RATE, config, progress=False)
    test = log_segment(delayed_saturating_pd_log(20.0, seed=99), "knee", None, 1 / RATE)
    rows = np.arange(3, len(test.torque))[:, None] - np.arange(4)[None]
    x = torch.tensor(np.concatenate([test.error[rows], test.velocity[rows]], axis=1), dtype=torch.float32)
    with torch.no_grad():
        predicted = result.module(x).numpy()
    relative = np.sqrt(np.mean((predicted - test.torque[3:]) ** 2)) / (2 * LIMIT)
    assert relative < 0.05, f"torque RMSE {100 * relative:.2f}% of the range"


def _write_csv(log: Log, path) -> str:
    columns = {"time": log.time, "knee.pos": log.pos["knee"], "knee.vel": log.vel["knee"], "knee.effort": log.effort["knee"],
               "knee_motor.ctrl": log.ctrl["knee_motor"]}
    pd.DataFrame(columns).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("nets")
    path = _write_csv(delayed_saturating_pd_log(20.0, 0), folder / "run.csv")
    code = main(["actuator", "train", "--log", path, "--joint", "knee", "--net", "mlp", "--history", "3",
                 "--epochs", "5", "--hidden", "16", "--out", str(folder / "knee_net"), "--quiet"])
    assert code == 0
    return str(folder / "knee_net")


def test_train_command_writes_torchscript_sidecar_and_plot(trained):
    meta = json.loads(open(f"{trained}/net.json").read())
    assert meta["net"] == "mlp" and meta["history"] == 3 and meta["sample_dt"] == pytest.approx(1 / RATE)
    assert len(meta["input_mean"]) == 2 and meta["joint"] == "knee"
    module, loaded = load_network(trained)
    assert loaded == meta
    assert module(torch.zeros(5, 6)).shape == (5,)
    import os
    assert os.path.getsize(f"{trained}/loss.png") > 1000


KNEE_XML = """\
<mujoco><option timestep="0.002"/><worldbody><body><joint name="knee" type="hinge" axis="0 1 0" armature="0.01"/>
<inertial pos="0 0 -0.2" mass="1" diaginertia="0.01 0.01 0.01"/></body></worldbody>
<actuator><motor name="knee_motor" joint="knee"/></actuator></mujoco>"""


@pytest.mark.parametrize("nbatch", [1, 5])
def test_network_runs_in_the_loop_at_its_rate(trained, nbatch):
    model = mujoco.MjModel.from_xml_string(KNEE_XML)
    loop = ClosedLoop(model, [Binding("net", "knee", NetConfig(trained))])
    assert loop.decimation == 5  # 100 Hz network on a 500 Hz model
    sim = Simulator(model, ParamSet([], model=model), nthread=1, loop=loop)
    control = np.full((nbatch, 50, 1), 0.5)
    states, ok = sim.rollout([copy.copy(model)] * nbatch, sim.initial_states(np.zeros((nbatch, 1)), np.zeros((nbatch, 1))), control)
    assert ok.all() and np.allclose(states[0], states[-1])
    assert abs(states[0, -1, 1]) > 1e-4  # the network pushed the joint


TWO_KNEES_XML = """\
<mujoco><option timestep="0.002"/><worldbody>
<body><joint name="left" type="hinge" axis="0 1 0" armature="0.01"/><inertial pos="0 0 -0.2" mass="1" diaginertia="0.01 0.01 0.01"/></body>
<body pos="1 0 0"><joint name="right" type="hinge" axis="0 1 0" armature="0.01"/><inertial pos="0 0 -0.2" mass="1" diaginertia="0.01 0.01 0.01"/></body>
</worldbody><actuator><motor name="left_motor" joint="left"/><motor name="right_motor" joint="right"/></actuator></mujoco>"""


def test_joints_sharing_a_network_file_run_in_one_call_with_the_same_torques(trained, tmp_path):
    import shutil
    copy_folder = shutil.copytree(trained, tmp_path / "copy")  # another file: its own module and call
    model = mujoco.MjModel.from_xml_string(TWO_KNEES_XML)
    shared = ClosedLoop(model, [Binding("net", "left", NetConfig(trained)), Binding("net", "right", NetConfig(trained + "/net.pt"))])
    separate = ClosedLoop(model, [Binding("net", "left", NetConfig(trained)), Binding("net", "right", NetConfig(str(copy_folder)))])
    assert shared._net_groups == [[0, 1]] and separate._net_groups == []
    nbatch, rng = 6, np.random.default_rng(0)
    for loop in (shared, separate):
        for m in loop.models:
            m.reset(nbatch, loop.control_dt)
    for _ in range(4):  # a few control steps, so the input histories differ between joints
        qpos, qvel, ctrl = rng.normal(0, 0.3, (nbatch, 2)), rng.normal(0, 1, (nbatch, 2)), rng.normal(0, 0.5, (nbatch, 2))
        a, b = shared.forces(qpos, qvel, ctrl), separate.forces(qpos, qvel, ctrl)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        assert np.abs(a[:, 0] - a[:, 1]).max() > 1e-4  # the joints got their own inputs


def test_network_lanes_on_two_threads_match_one_lane(trained):
    model = mujoco.MjModel.from_xml_string(TWO_KNEES_XML)
    loop = ClosedLoop(model, [Binding("net", "left", NetConfig(trained)), Binding("net", "right", NetConfig(trained))])
    nbatch, rng = 20, np.random.default_rng(1)
    control = rng.normal(0, 0.5, (nbatch, 60, 2))
    results = []
    for nthread in (1, 2):
        sim = Simulator(model, ParamSet([], model=model), nthread=nthread, loop=loop)
        initial = sim.initial_states(np.repeat(np.linspace(-0.2, 0.2, nbatch)[:, None], 2, axis=1), np.zeros((nbatch, 2)))
        states, ok = sim.rollout([copy.copy(model)] * nbatch, initial, control)
        assert ok.all()
        results.append(states)
    assert len(loop._lane_models) == 2
    # float32 products may round differently with the rows per call, nothing more
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)
    assert np.abs(results[0][:, -1, 1:3]).max() > 1e-3  # the networks moved the joints


def test_the_loop_runs_the_mlp_in_numpy_with_the_torchscript_modules_torques(trained):
    actuator = NetConfig(trained).build()
    assert actuator._forward is not None
    x = np.random.default_rng(2).normal(0, [0.3] * 3 + [2.0] * 3, (50, 6)).astype(np.float32)
    with torch.no_grad():
        expected = actuator.module(torch.from_numpy(x)).numpy()
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(actuator.evaluate(x), expected, rtol=1e-5, atol=1e-6)


def test_a_module_of_another_structure_runs_in_torch(tmp_path):
    from torch import nn

    from actuator_models.network import ActuatorNetMLP, mlp_in_numpy, save_network

    module = ActuatorNetMLP(2, (8,))
    module.layers[1] = nn.Tanh()  # not the Linear/Softsign stack the numpy pass computes
    save_network(tmp_path, module, {"net": "mlp", "history": 2, "sample_dt": 0.01})
    assert not (tmp_path / "net.npz").exists()  # not a built-in architecture: TorchScript only
    scripted, _ = load_network(tmp_path, trust_code=True)
    assert mlp_in_numpy(scripted) is None
    actuator = NetConfig(str(tmp_path), trust_code=True).build()
    x = np.ones((3, 4), np.float32)
    with torch.no_grad():
        np.testing.assert_array_equal(actuator.evaluate(x), scripted(torch.from_numpy(x)).numpy())


@pytest.mark.parametrize("control_dt", [0.01, 0.005])
def test_network_input_is_the_history_at_the_networks_sample_times(trained, control_dt):
    """At the network's rate the history is the last 3 control steps; at twice it (resampled),
    every other control step."""
    actuator = NetConfig(trained, resample=True).build()
    actuator.reset(2, control_dt)
    rng = np.random.default_rng(3)
    errors, velocities = [], []
    every = int(round(0.01 / control_dt))
    for step in range(12):
        command, q, qd = rng.normal(size=(3, 2))
        errors.append(command - q)
        velocities.append(qd)
        x = actuator.network_input(command, q, qd)
        lags = [min(step, every * k) for k in range(3)]  # before the first step: the first sample
        np.testing.assert_allclose(x[:, :3], np.stack([errors[step - lag] for lag in lags], axis=1), rtol=1e-6)
        np.testing.assert_allclose(x[:, 3:], np.stack([velocities[step - lag] for lag in lags], axis=1), rtol=1e-6)


def test_network_at_another_rate_is_an_error_unless_resampled(trained):
    model = mujoco.MjModel.from_xml_string(KNEE_XML)
    loop = ClosedLoop(model, [Binding("net", "knee", NetConfig(trained))], control_dt=0.004)
    sim = Simulator(model, ParamSet([], model=model), nthread=1, loop=loop)
    args = ([copy.copy(model)], sim.initial_states(np.zeros((1, 1)), np.zeros((1, 1))), np.zeros((1, 10, 1)))
    with pytest.raises(UserError, match="trained at 100 Hz"):
        sim.rollout(*args)
    loop = ClosedLoop(model, [Binding("net", "knee", NetConfig(trained, resample=True))], control_dt=0.004)
    sim = Simulator(model, ParamSet([], model=model), nthread=1, loop=loop)
    assert sim.rollout(*args)[1].all()


def test_lstm_trains_and_steps_in_the_loop(tmp_path):
    log = delayed_saturating_pd_log(10.0, 1)
    folder = tmp_path / "lstm"
    assert main(["actuator", "train", "--log", _write_csv(log, tmp_path / "run.csv"), "--joint", "knee", "--net", "lstm",
                 "--hidden", "8", "--epochs", "2", "--out", str(folder), "--quiet"]) == 0
    model = mujoco.MjModel.from_xml_string(KNEE_XML)
    loop = ClosedLoop(model, [Binding("net", "knee", NetConfig(str(folder)))])
    sim = Simulator(model, ParamSet([], model=model), nthread=1, loop=loop)
    _, ok = sim.rollout([copy.copy(model)] * 3, sim.initial_states(np.zeros((3, 1)), np.zeros((3, 1))), np.full((3, 20, 1), 0.3))
    assert ok.all()


def test_training_without_torque_is_a_user_error(tmp_path, capsys):
    log = delayed_saturating_pd_log(2.0, 0)
    pd.DataFrame({"time": log.time, "knee.pos": log.pos["knee"], "knee_motor.ctrl": log.ctrl["knee_motor"]}).to_csv(tmp_path / "a.csv", index=False)
    code = main(["actuator", "train", "--log", str(tmp_path / "a.csv"), "--joint", "knee", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "no column 'knee.effort'" in capsys.readouterr().err


def test_missing_network_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="net.json: actuator network file not found"):
        NetConfig(str(tmp_path)).build()


def test_corrupt_network_file_is_a_user_error(trained, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    weights = bytearray((broken / "net.npz").read_bytes())
    weights[-100] ^= 1
    (broken / "net.npz").write_bytes(bytes(weights))
    with pytest.raises(UserError, match="net.npz: does not match net.json"):
        load_network(broken)


def test_torchscript_is_loaded_only_with_trust_code(trained, tmp_path):
    import shutil

    from actuator_models.network import ActuatorNetMLP

    folder = tmp_path / "ts"
    shutil.copytree(trained, folder)
    meta = json.loads((folder / "net.json").read_text())
    del meta["architecture"], meta["weights"]  # a folder with TorchScript only, as another tool writes it
    (folder / "net.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="net.pt: a TorchScript file runs code when loaded; sysid loads one only with --trust-code"):
        load_network(folder)
    with pytest.raises(UserError, match="--trust-code"):
        NetConfig(str(folder)).build()
    scripted, _ = load_network(folder, trust_code=True)
    built, _ = load_network(trained)
    assert isinstance(built, ActuatorNetMLP) and not isinstance(scripted, ActuatorNetMLP)
    x = torch.randn(4, 6)
    with torch.no_grad():
        np.testing.assert_allclose(scripted(x).numpy(), built(x).numpy(), rtol=1e-6)
    (folder / "net.pt").write_bytes(b"not a TorchScript archive")
    with pytest.raises(UserError, match="net.pt: not a TorchScript file torch can read"):
        load_network(folder, trust_code=True)


def test_sysid_fit_loads_a_torchscript_network_only_with_trust_code(trained, tmp_path, capsys):
    import shutil
    from unittest import mock

    folder = tmp_path / "ts"
    shutil.copytree(trained, folder)
    meta = json.loads((folder / "net.json").read_text())
    del meta["architecture"], meta["weights"]  # TorchScript only
    (folder / "net.json").write_text(json.dumps(meta))
    (tmp_path / "knee.xml").write_text(KNEE_XML)
    log = _write_csv(delayed_saturating_pd_log(1.0, 3), tmp_path / "run.csv")
    argv = ["fit", "--model", str(tmp_path / "knee.xml"), "--log", log, "--params", "damping", "--actuator", f"net:{folder}@knee",
            "--quiet", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "net.pt: a TorchScript file runs code when loaded; sysid loads one only with --trust-code" in err
    assert len(err.strip().splitlines()) == 1

    class Reached(Exception):
        pass

    with mock.patch("sysid.fit.fit", side_effect=Reached), pytest.raises(Reached):
        main([*argv, "--trust-code"])  # loads, and gets as far as the fit


def test_a_bundle_carries_its_actuator_network_and_runs_without_the_fits_files(trained, tmp_path):
    """`sysid export` copies the network a fit ran (`net:FOLDER`) into the bundle; the env runs it from
    there after the original folder is gone, with the torques of the original."""
    import shutil

    from actuator_models.commands import actuators_summary
    from sysid.bundle import load_bundle
    from sysid.envs import make_env

    xml = KNEE_XML.replace('<motor name="knee_motor" joint="knee"/>', '<motor name="knee_motor" joint="knee" ctrlrange="-1 1"/>')
    model = mujoco.MjModel.from_xml_string(xml)
    net = shutil.copytree(trained, tmp_path / "knee_net")
    loop = ClosedLoop(model, [Binding("net", "knee", NetConfig(str(net)))])
    calib = tmp_path / "calib"
    calib.mkdir()
    (calib / "calibrated.xml").write_text(xml)
    (calib / "actuators.json").write_text(json.dumps(actuators_summary(loop, [], np.zeros(0))))
    (calib / "result.json").write_text(json.dumps({
        "params": {"armature@knee": {"value": 0.01, "initial": 0.01, "lower": 0.0, "upper": 1.0, "std": 1e-4}},
        "loss": {"initial": 1.0, "final": 1.0}, "optimizer": "lsq", "seed": 0, "logs": [], "version": "0",
        "actuator_models": ["actuators.json"]}))
    assert main(["export", str(calib), "--out", str(tmp_path / "bundle")]) == 0
    copied = json.loads((tmp_path / "bundle" / "actuator_models" / "actuators.json").read_text())
    assert copied["models"][0]["settings"]["path"] == "net_knee"
    assert sorted(p.name for p in (tmp_path / "bundle" / "actuator_models" / "net_knee").iterdir()) == sorted(
        p.name for p in net.iterdir() if p.is_file())

    def observations():
        env = make_env(str(tmp_path / "bundle"), randomize=False)
        env.reset(seed=0)
        out = [env.step(np.array([0.3]))[0] for _ in range(20)]
        env.close()
        return np.array(out)

    before = observations()
    shutil.rmtree(net)  # the fit's network folder is gone: the bundle's copy runs
    after = observations()
    np.testing.assert_array_equal(before, after)
    assert np.ptp(after) > 0  # the network moved the joint
