"""Tests for sysid.loss: windows, comparison at logged times, residuals at the truth and for divergence."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import TRUTH, make_log

from sysid.data import Log, smooth
from sysid.loss import DIVERGED_RESIDUAL, ShootingLoss, make_windows
from sysid.params import parse_params
from sysid.sim import Simulator
from sysid.track import bind_log

DT = 0.002


def _loss(model, log, horizon, params="damping,armature,frictionloss", *, exact_starts=False, **kw):
    """The parameters and a ShootingLoss over one log; `exact_starts` starts windows from the
    log's own (noise-free) states instead of the filtered ones."""
    ps = parse_params(params, model)
    sim = Simulator(model, ps, nthread=1)
    track = bind_log(log, model)
    if exact_starts:
        track = dataclasses.replace(track, qpos=log.pos["hinge"][:, None], qvel=log.vel["hinge"][:, None])
    return ps, ShootingLoss(sim, [track], horizon, **kw)


def _truth(ps):
    return np.array([[TRUTH[name] for name in ps.names]])


@pytest.mark.parametrize("horizon", [0.1, 0.105, 0.3])
def test_windows_compare_every_row_after_the_first_exactly_once(truth_model, clean_log, horizon):
    short = dataclasses.replace(clean_log, source="short.csv")
    short = short.slice(0, 201)
    tracks = [bind_log(clean_log, truth_model), bind_log(short, truth_model)]
    win = make_windows(tracks, horizon, DT)
    assert win.nstep == int(np.ceil(horizon / DT - 1e-9))
    for t, track in enumerate(tracks):
        mine = (win.entry_track == t) & (win.entry_signal == 0)
        counts = np.bincount(win.entry_row[mine], minlength=len(track.time))
        assert counts[0] == 0 and np.all(counts[1:] == 1)
        # Windows are back to back: each starts at the previous one's last compared row.
        starts = win.start[win.track == t]
        assert starts[0] == 0 and np.all(np.diff(track.time[starts]) <= win.nstep * DT * (1 + 1e-9))
    # Every compared row carries each signal once (pos and vel).
    assert len(win.entry_target) == 2 * (len(clean_log.time) - 1 + len(short.time) - 1)


def test_max_windows_keeps_evenly_spread_windows(truth_model, clean_log):
    track = bind_log(clean_log, truth_model)
    every = make_windows([track], 0.1, DT)
    some = make_windows([track], 0.1, DT, max_windows=4)
    assert len(every.start) == 10 and len(some.start) == 4
    np.testing.assert_array_equal(some.start, every.start[[0, 3, 6, 9]])


def test_entries_interpolate_between_model_steps_at_logged_times(truth_model):
    time = np.array([0.0, 0.003, 0.0071, 0.010, 0.0125])
    log = Log("odd.csv", time, {"hinge": np.linspace(0.0, 0.1, 5)}, {}, {}, {"motor": np.zeros(5)})
    track = bind_log(log, truth_model)
    win = make_windows([track], 0.01, DT)
    np.testing.assert_array_equal(win.start, [0, 3])
    # Window 0 compares rows 1-3 at 1.5, 3.55 and 5 steps; window 1 row 4 at 1.25 steps after row 3.
    np.testing.assert_array_equal(win.entry_row, [1, 2, 3, 4])
    np.testing.assert_array_equal(win.entry_window, [0, 0, 0, 1])
    np.testing.assert_array_equal(win.entry_step, [1, 3, 4, 1])
    np.testing.assert_allclose(win.entry_frac, [0.5, 0.55, 1.0, 0.25], atol=1e-9)


def test_residuals_vanish_at_the_truth_and_grow_for_wrong_values(truth_model, clean_log):
    ps, loss = _loss(truth_model, clean_log, 0.3, exact_starts=True)
    values = np.concatenate([_truth(ps), 2 * _truth(ps)])  # the truth, and twice damping, armature, friction
    simulated, ok = loss.simulate(values)
    assert ok.all()
    error = simulated - loss.windows.entry_target  # rad and rad/s
    pos = loss.windows.entry_signal == 0
    assert np.abs(error[0]).max() < 1e-8
    assert np.abs(error[1, pos]).max() > 2e-2
    r = loss.residuals(values)
    np.testing.assert_allclose(r * loss.windows.entry_sigma, error, rtol=1e-9, atol=1e-12)
    # From the filtered logged states (the default) only the filter's small error is left.
    _, filtered = _loss(truth_model, clean_log, 0.3)
    error = filtered.simulate(values)[0] - filtered.windows.entry_target
    assert np.abs(error[0, pos]).max() < 1e-3
    assert np.abs(error[1, pos]).max() > 20 * np.abs(error[0, pos]).max()


def test_noisy_residuals_are_normalised_by_the_noise(truth_model, noisy_log):
    ps, loss = _loss(truth_model, noisy_log, 0.3)
    r = loss.residuals(np.concatenate([_truth(ps), 2 * _truth(ps)]))
    track = loss.tracks[0]
    np.testing.assert_allclose(track.sigma, [1e-3, 1e-2], rtol=0.15)  # the generator's noise levels
    assert 0.7 < np.mean(r[0] ** 2) < 1.5
    assert np.mean(r[1] ** 2) > 100
    rmse = loss.rmse(loss.simulate(_truth(ps))[0][0])
    assert list(rmse) == ["hinge.pos", "hinge.vel"]
    assert rmse["hinge.pos"] == pytest.approx(1e-3, rel=0.3)


def test_irregular_timestamps_are_compared_at_the_logged_times(truth_model):
    # A log at irregular times (every 1 to 7 model steps) from the fine simulation; the
    # command changes only at logged rows, as the log format says.
    rng = np.random.default_rng(4)
    rows = np.concatenate([[0], np.cumsum(rng.integers(1, 8, 300))])
    rows = rows[rows <= 750]
    log = make_log(truth_model, 1.5, seed=6, noise=False, rows=rows)
    assert np.ptp(np.diff(log.time)) > 5 * DT
    ps, loss = _loss(truth_model, log, 0.3, exact_starts=True)
    simulated, ok = loss.simulate(np.concatenate([_truth(ps), 1.5 * _truth(ps)]))
    assert ok.all()
    error = simulated - loss.windows.entry_target
    pos = loss.windows.entry_signal == 0
    assert np.abs(error[0]).max() < 1e-8
    assert np.abs(error[1, pos]).max() > 1e-2
    # The same log read at the model rate (every step) would have compared other rows.
    assert len(loss.windows.entry_row) == 2 * (len(rows) - 1)


def test_diverged_candidate_gets_the_diverged_residual(pendulum, noisy_log):
    ps, loss = _loss(pendulum, noisy_log, 0.1, params="damping")
    r = loss.residuals(np.array([[0.2], [-1e6]]))
    assert np.all(np.abs(r[0]) < DIVERGED_RESIDUAL)
    np.testing.assert_array_equal(r[1], DIVERGED_RESIDUAL)
    simulated, ok = loss.simulate(np.array([[-1e6]]))
    assert not ok.any()


def test_bound_log_filters_every_column_as_one_filter_per_column_would(arm):
    """bind_log smooths all logged columns in one call: a log with a velocity for one joint only
    gives each joint the state it would get from smoothing its own columns."""
    rng = np.random.default_rng(0)
    time = np.cumsum(rng.uniform(0.008, 0.012, 400))  # irregular timestamps
    pos = {"shoulder": np.sin(2 * time) + 1e-3 * rng.standard_normal(400), "elbow": np.cos(3 * time) + 1e-3 * rng.standard_normal(400)}
    vel = {"elbow": -3 * np.sin(3 * time) + 1e-2 * rng.standard_normal(400)}
    with pytest.warns(UserWarning):  # the arm's other joints and actuators are not logged
        track = bind_log(Log("mixed.csv", time, pos, vel, {}), arm)
    for name in pos:
        qadr, dadr = arm.jnt_qposadr[arm.joint(name).id], arm.jnt_dofadr[arm.joint(name).id]
        value, derivative = smooth(time, pos[name])
        np.testing.assert_allclose(track.qpos[:, qadr], value, atol=1e-12)
        expected_vel = smooth(time, vel[name])[0] if name in vel else derivative
        np.testing.assert_allclose(track.qvel[:, dadr], expected_vel, atol=1e-10)
    assert track.signals == ("shoulder.pos", "elbow.pos", "elbow.vel")
