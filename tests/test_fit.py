"""Tests for the fit core: the objective's Jacobian, parameter recovery, determinism, delay, Ctrl-C."""

from __future__ import annotations

import sys

import mujoco
import numpy as np
import pytest
from conftest import PENDULUM_XML, TRUTH, make_log, with_values

from sysid.errors import UserError
from sysid.fit import FitConfig, fit
from sysid.loss import ShootingLoss
from sysid.objective import Objective
from sysid.params import parse_params
from sysid.sim import Simulator
from sysid.track import bind_log

PARAMS = "damping,armature,friction"
NAMES = ["damping@hinge", "armature@hinge", "frictionloss@hinge"]
CONFIG = FitConfig(horizons=(0.1, 0.3), nthread=2, optimizer_options={"cmaes": {"max_evaluations": 400}})


def _fit(model, log, params=PARAMS, **changes):
    ps = parse_params(params, model)
    config = FitConfig(**{**CONFIG.__dict__, **changes})
    return fit(model, [log], ps, config, progress=False)


@pytest.fixture(scope="module")
def fitted(noisy_log):
    """The default chain (CMA-ES then least squares) on the 1-joint pendulum, seed 0."""
    model = mujoco.MjModel.from_xml_string(PENDULUM_XML)
    return model, _fit(model, noisy_log)


# --- objective ----------------------------------------------------------------------------------


def test_jacobian_matches_central_differences(pendulum, noisy_log):
    # No friction in this model: stick-slip is not differentiable.
    model = with_values(pendulum, {"frictionloss@hinge": 0.0})
    ps = parse_params("damping,armature,delay", model)
    sim = Simulator(model, ps, nthread=1)
    loss = ShootingLoss(sim, [bind_log(noisy_log, model)], 0.1, max_windows=3)
    objective = Objective(loss, refine_states=True)
    assert objective.dim == 3 + 3 * 2  # parameters, then (qpos, qvel) offsets of every window
    rng = np.random.default_rng(0)
    x = objective.start(ps.to_unit(np.array([0.3, 0.03, 0.0031])))
    x[3:] = rng.normal(0, 1, 6)
    r = objective.residuals(x[None])[0]
    jac = objective.jacobian(x, r)
    assert jac.shape == (loss.m, objective.dim)
    for k in range(objective.dim):
        h = 1e-4 if k < 3 else 1e-2
        step = np.zeros(objective.dim)
        step[k] = h
        central = (objective.residuals((x + step)[None])[0] - objective.residuals((x - step)[None])[0]) / (2 * h)
        assert np.linalg.norm(central) > 0
        assert np.linalg.norm(jac[:, k] - central) < 1e-3 * np.linalg.norm(central), f"column {k}"
    # A state column only touches its own window's entries.
    window = loss.windows.entry_window
    for w in range(loss.n_windows):
        assert np.all(jac[window != w][:, 3 + 2 * w : 5 + 2 * w] == 0)
    assert objective.evaluations == 1 + (3 + 2) + 2 * objective.dim


# --- recovery -----------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["cmaes+lsq", "lsq"])
def test_fit_recovers_the_true_values(pendulum, noisy_log, fitted, optimizer):
    result = fitted[1] if optimizer == "cmaes+lsq" else _fit(pendulum, noisy_log, optimizer=optimizer)
    assert result.optimizer == optimizer and result.params.names == NAMES
    truth = np.array([TRUTH[n] for n in NAMES])
    initial = np.array([0.5, 0.05, 0.05])
    np.testing.assert_allclose(result.params.initial, initial)
    np.testing.assert_allclose(result.values, truth, rtol=0.03)
    assert result.loss_initial > 100 * result.loss_final
    assert 0.7 < result.loss_final < 1.5  # the noise level: nothing left to explain
    assert result.rmse_final["hinge.pos"] < 2e-3 < result.rmse_initial["hinge.pos"]
    assert not result.interrupted
    assert result.evaluations > 0 and result.sim_steps >= result.evaluations * 50
    assert result.horizon == 0.3 and result.stages[-1].startswith("lsq 0.3s")


def test_std_is_finite_positive_and_covers_the_error(fitted):
    result = fitted[1]
    std = result.uncertainty.std
    truth = np.array([TRUTH[n] for n in NAMES])
    assert np.all(np.isfinite(std)) and np.all(std > 0)
    assert np.all(std < 0.05 * result.values)
    assert np.all(np.abs(result.values - truth) < 5 * std)
    lo, hi = result.uncertainty.ci95.T
    assert np.all((lo < result.values) & (result.values < hi))
    corr = result.uncertainty.correlation
    np.testing.assert_allclose(np.diag(corr), 1.0)
    np.testing.assert_allclose(corr, corr.T)


def test_same_seed_gives_identical_values(pendulum, noisy_log, fitted):
    again = _fit(pendulum, noisy_log)
    np.testing.assert_array_equal(again.values, fitted[1].values)
    assert again.evaluations == fitted[1].evaluations
    assert [h[:2] for h in again.history] == [h[:2] for h in fitted[1].history]


def test_starts_keep_the_lowest_final_loss_and_add_up_the_work(pendulum, noisy_log, fitted):
    cheap = {"optimizer": "cmaes", "optimizer_options": {"cmaes": {"max_evaluations": 40, "final_max_evaluations": 40}}}
    singles = [_fit(pendulum, noisy_log, seed=seed, **cheap) for seed in (3, 4)]
    both = _fit(pendulum, noisy_log, seed=3, starts=2, **cheap)
    assert [s for s, _ in both.starts] == [3, 4]
    np.testing.assert_allclose([loss for _, loss in both.starts], [r.loss_final for r in singles])
    best = singles[int(np.argmin([r.loss_final for r in singles]))]
    np.testing.assert_array_equal(both.values, best.values)
    assert singles[0].loss_final != singles[1].loss_final  # the starts differ, so the choice matters
    assert both.evaluations == sum(r.evaluations for r in singles)
    assert both.sim_steps == sum(r.sim_steps for r in singles)
    with pytest.raises(UserError, match="starts must be at least 1"):
        FitConfig(starts=0)


def test_fit_recovers_an_actuation_delay(truth_model):
    dt = truth_model.opt.timestep
    log = make_log(truth_model, 2.0, seed=7, delay=1.5 * dt)
    result = _fit(truth_model, log, params="delay", horizons=(0.3, 1.0))
    assert result.params.names == ["delay"]
    assert result.values[0] == pytest.approx(1.5 * dt, rel=0.2)
    assert np.isfinite(result.uncertainty.std[0]) and result.uncertainty.std[0] > 0


def test_interrupt_returns_the_best_values_so_far(pendulum, noisy_log, monkeypatch):
    calls = 0
    loss = Objective.loss

    def interrupting(self, x):
        nonlocal calls
        calls += 1
        if calls == 6:  # the 6th CMA-ES generation of the first stage
            raise KeyboardInterrupt
        return loss(self, x)

    monkeypatch.setattr(Objective, "loss", interrupting)
    result = _fit(pendulum, noisy_log, local_first=False)
    assert result.interrupted and calls == 6
    ps = result.params
    assert np.all((ps.lower <= result.values) & (result.values <= ps.upper))
    # Five generations of CMA-ES already improved on the initial guess.
    assert not np.allclose(result.values, ps.initial)
    assert result.loss_final < result.loss_initial
    assert np.isfinite(result.uncertainty.std).all()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"horizons": ()}, "horizons must be positive"),
        ({"horizons": (0.3, 0.1)}, "horizons must grow"),
        ({"horizons": (0.0, 0.1)}, "horizons must be positive"),
        ({"max_windows": 0}, "max_windows must be at least 1"),
    ],
)
def test_fit_config_validates_itself(changes, message):
    with pytest.raises(UserError, match=message):
        FitConfig(**changes)


def test_unknown_optimizer_is_a_user_error(pendulum, noisy_log):
    with pytest.raises(UserError, match="unknown optimizer 'adam'"):
        _fit(pendulum, noisy_log, optimizer="cmaes+adam")


def test_a_single_stage_runs_the_global_search_then_the_polish(pendulum, noisy_log):
    result = _fit(pendulum, noisy_log, horizons=(0.3,))
    assert [s.split()[0] for s in result.stages] == ["cmaes", "lsq"]
    assert result.stages[1].startswith("lsq 0.3s")


def test_a_fit_the_model_cannot_explain_is_reported_as_poor(pendulum, noisy_log):
    import dataclasses
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(pendulum, noisy_log)
    assert not [w for w in caught if "fitted loss" in str(w.message)]
    # A 0.2 rad sensor offset: no damping, armature or friction makes the pendulum rest there.
    biased = dataclasses.replace(noisy_log, pos={j: p + 0.2 for j, p in noisy_log.pos.items()})
    with pytest.warns(UserWarning, match=r"the fitted loss is .*wrong basin"):
        _fit(pendulum, biased)


def test_a_fit_that_would_not_fit_in_memory_stops_before_starting(pendulum, noisy_log, monkeypatch):
    import sysid.memory

    monkeypatch.setattr(sysid.memory, "available_bytes", lambda: 100 * 2**20)
    started = []
    monkeypatch.setattr(sys.modules["sysid.fit"], "Simulator", lambda *a, **k: started.append(1))
    with pytest.raises(UserError, match=r"^this fit needs about 0\.\d GB of memory \(2e\+03 logged values compared in 7 windows "
                       r"of 0\.3 s\) but 0\.1 GB is available; fit fewer or shorter logs \(--log, --episode\) or logs "
                       r"resampled to a lower rate$"):
        _fit(pendulum, noisy_log)
    assert not started


def test_progress_off_a_terminal_prints_one_line_per_interval_with_stage_and_time_left():
    import io
    import time

    from sysid.progress import Progress

    stream = io.StringIO()
    progress = Progress(stream=stream, interval=0.05)
    progress.stage("cmaes 0.25s (32 windows)", 200)
    progress.update(50, 3.25)
    time.sleep(0.3)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert 2 <= len(lines) <= 8
    assert lines[-1].startswith("sysid: cmaes 0.25s (32 windows): 50/200 evaluations, best loss 3.25, elapsed 0 s, stage about ")
    assert lines[-1].endswith(" s left (at most)")


def test_the_global_search_runs_only_when_the_local_probe_does_not_explain_the_logs(pendulum, noisy_log, fitted, monkeypatch):
    _, result = fitted  # the default chain, local_first on
    assert [s.split(":")[0] for s in result.stages] == ["lsq probe 0.1s", "lsq 0.3s"]
    assert float(result.stages[0].split("loss ")[1].split()[0]) <= sys.modules["sysid.fit"].EXPLAINED_LOSS
    monkeypatch.setattr(sys.modules["sysid.fit"], "EXPLAINED_LOSS", 0.0)  # nothing explains the logs that well
    searched = _fit(pendulum, noisy_log)
    assert [s.split(":")[0] for s in searched.stages] == ["lsq probe 0.1s", "cmaes 0.1s", "lsq 0.3s"]
    for name, value in zip(NAMES, result.values):
        assert value == pytest.approx(searched.values[NAMES.index(name)], rel=1e-3)
