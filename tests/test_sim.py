"""Tests for sysid.sim: held (and delayed) controls, batched rollouts, divergence flags."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TRUTH, make_log, multisine, simulate

from sysid.loss import ShootingLoss
from sysid.params import parse_params
from sysid.sim import Simulator, held_controls
from sysid.track import bind_log

DT = 0.002


def _command(n: int, nu: int = 2) -> tuple[np.ndarray, np.ndarray]:
    time = np.arange(n) * DT
    rng = np.random.default_rng(0)
    return time, rng.normal(size=(n, nu))


# --- held_controls ------------------------------------------------------------------------------


def test_zero_delay_on_a_log_at_the_timestep_reproduces_the_commands():
    time, command = _command(50)
    out = held_controls(time, command, np.array([0.0]), 49, DT, 0.0)
    assert out.shape == (1, 49, 2)
    np.testing.assert_allclose(out[0], command[:-1], rtol=1e-9, atol=1e-12)
    # A window starting at a later row sees the commands from that row on.
    out = held_controls(time, command, np.array([time[10], time[30]]), 5, DT, 0.0)
    np.testing.assert_allclose(out, np.stack([command[10:15], command[30:35]]), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3])
def test_delay_of_whole_steps_shifts_by_that_many_steps(k):
    time, command = _command(40)
    out = held_controls(time, command, np.array([time[10]]), 20, DT, k * DT)[0]
    np.testing.assert_allclose(out, command[10 - k : 30 - k], rtol=1e-9, atol=1e-12)


def test_fractional_delay_averages_neighbouring_commands():
    time, command = _command(40)
    out = held_controls(time, command, np.array([time[10]]), 20, DT, 1.5 * DT)[0]
    np.testing.assert_allclose(out, 0.5 * (command[8:28] + command[9:29]), rtol=1e-9, atol=1e-12)
    # In general the control is linear in the fraction f of a step between k and k + 1 steps.
    lo = held_controls(time, command, np.array([time[10]]), 20, DT, 2 * DT)
    hi = held_controls(time, command, np.array([time[10]]), 20, DT, 3 * DT)
    for f in (0.1, 0.37, 0.9):
        mid = held_controls(time, command, np.array([time[10]]), 20, DT, (2 + f) * DT)
        np.testing.assert_allclose(mid, (1 - f) * lo + f * hi, rtol=1e-9, atol=1e-12)


def test_first_command_holds_before_the_first_row_and_last_after_the_last():
    time, command = _command(10)
    out = held_controls(time, command, np.array([0.0]), 6, DT, 4 * DT)[0]
    np.testing.assert_allclose(out[:4], np.repeat(command[:1], 4, axis=0), rtol=1e-9)
    np.testing.assert_allclose(out[4:], command[:2], rtol=1e-9)
    out = held_controls(time, command, np.array([time[7]]), 6, DT, 0.0)[0]
    np.testing.assert_allclose(out[:2], command[7:9], rtol=1e-9)
    np.testing.assert_allclose(out[2:], np.repeat(command[-1:], 4, axis=0), rtol=1e-9)


def test_slow_log_holds_each_command_over_several_steps():
    time = np.arange(6) * 5 * DT  # a 100 Hz log on a 500 Hz model
    command = np.arange(6.0)[:, None]
    out = held_controls(time, command, np.array([0.0]), 25, DT, 0.0)[0, :, 0]
    np.testing.assert_allclose(out, np.repeat(np.arange(5.0), 5), atol=1e-9)
    # A delay of 1.5 model steps: the step straddling a change averages the two commands.
    out = held_controls(time, command, np.array([0.0]), 10, DT, 1.5 * DT)[0, :, 0]
    np.testing.assert_allclose(out, [0, 0, 0, 0, 0, 0, 0.5, 1, 1, 1], atol=1e-9)


def test_irregular_log_integrates_the_held_command():
    time = np.array([0.0, 0.0031, 0.0045, 0.01])
    command = np.array([[1.0], [2.0], [4.0], [8.0]])
    out = held_controls(time, command, np.array([0.0]), 5, DT, 0.0)[0, :, 0]
    # Steps [0, 2), [2, 4), [4, 6), [6, 8), [8, 10) ms.
    expected = [1.0, (1.1 * 1 + 0.9 * 2) / 2, (0.5 * 2 + 1.5 * 4) / 2, 4.0, 4.0]
    np.testing.assert_allclose(out, expected, rtol=1e-9)


# --- Simulator ----------------------------------------------------------------------------------


def test_rollout_matches_mj_step_and_leaves_the_input_model_alone(pendulum, truth_model):
    n = 300
    command = multisine(np.arange(n + 1) * DT, seed=5)
    qpos, qvel = simulate(truth_model, command)
    ps = parse_params("damping,armature,frictionloss", pendulum)
    before = pendulum.dof_damping.copy()
    sim = Simulator(pendulum, ps, nthread=2)
    models = sim.candidate_models(np.array([[TRUTH[name] for name in ps.names]] * 2))
    initial = sim.initial_states(np.array([[qpos[0]], [qpos[100]]]), np.array([[qvel[0]], [qvel[100]]]))
    initial[1, 0] = 100 * DT
    control = np.stack([command[:200, None], command[100:300, None]])
    states, ok = sim.rollout(models, initial, control)
    assert ok.all() and states.shape[0] == 2 and states.shape[2] == sim.nstate
    after = states[:, -200:]  # the state after each step
    np.testing.assert_allclose(after[0, :, sim.qpos_slice][:, 0], qpos[1:201], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(after[1, :, sim.qvel_slice][:, 0], qvel[101:301], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(after[1, :, 0], (101 + np.arange(200)) * DT, rtol=1e-12)
    assert sim.steps == 400 and sim.calls == [(2, 200)]
    np.testing.assert_array_equal(pendulum.dof_damping, before)
    sim.close()


def test_reused_output_buffers_give_the_same_states_across_shapes(pendulum):
    ps = parse_params("damping", pendulum)
    sim = Simulator(pendulum, ps, nthread=2)
    models = sim.candidate_models(np.array([[0.2], [0.5], [0.1]]))
    initial = sim.initial_states(np.array([[0.3], [0.1], [-0.2]]), np.array([[1.0], [0.0], [0.5]]))
    control = np.linspace(-1, 1, 3 * 150).reshape(3, 150, 1)
    fresh, _ = sim.rollout(models, initial, control)
    for shape in [(3, 150), (2, 80), (3, 150), (1, 40), (2, 80), (3, 150)]:
        b, t = shape
        reused, ok = sim.rollout(models[:b], initial[:b], control[:b, :t], reuse=True)
        assert ok.all() and reused.shape == (b, t, sim.nstate)
        np.testing.assert_array_equal(reused, fresh[:b, :t])
    assert len([k for k in sim._buffers if k[0] == "states"]) <= 4
    sim.close()


def test_diverging_candidate_is_flagged_not_raised(pendulum):
    ps = parse_params("damping", pendulum)
    sim = Simulator(pendulum, ps, nthread=1)
    models = sim.candidate_models(np.array([[0.2], [-1e6], [0.5]]))
    initial = sim.initial_states(np.full((3, 1), 0.3), np.full((3, 1), 1.0))
    states, ok = sim.rollout(models, initial, np.ones((3, 200, 1)))
    np.testing.assert_array_equal(ok, [True, False, True])
    assert np.isfinite(states[[0, 2]]).all()
    assert sim.warnings >= 1
    sim.close()


def test_loss_is_continuous_in_a_fractional_delay(truth_model):
    log = make_log(truth_model, 1.0, seed=3)
    ps = parse_params("delay", truth_model)
    sim = Simulator(truth_model, ps, nthread=1)
    loss = ShootingLoss(sim, [bind_log(log, truth_model)], 0.3)
    delays = np.linspace(0.0, 3 * DT, 25)[:, None]  # 8 points per model step
    simulated, ok = loss.simulate(delays)
    assert ok.all()
    # No jump at whole steps: the change between neighbouring delays is about the same everywhere.
    jumps = np.abs(np.diff(simulated, axis=0)).max(axis=1)
    assert jumps.max() < 1.5 * np.median(jumps)
    # Between k and k + 1 steps the trajectory moves monotonically, close to linearly, from one to the other.
    for k in range(3):
        seg = simulated[8 * k : 8 * k + 9]
        span = seg[-1] - seg[0]
        linear = seg[0] + np.linspace(0, 1, 9)[:, None] * span
        assert np.abs(seg - linear).max() < 0.05 * np.abs(span).max()
    # The log has no delay: the loss grows with the delay, without plateaus.
    losses = np.mean(loss.residuals(delays[::2]) ** 2, axis=1)
    assert np.all(np.diff(losses[1:]) > 0) and losses[-1] > 2 * losses[0]
    sim.close()
