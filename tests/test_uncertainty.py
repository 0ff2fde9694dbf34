"""Tests for uncertainty (per-signal weights, identifiability, coverage) and Gaussian priors."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from conftest import PENDULUM_XML, TRUTH, make_log, with_values

from sysid.config import load_config
from sysid.errors import UserError
from sysid.fit import FitConfig, fit
from sysid.loss import ShootingLoss
from sysid.objective import Objective
from sysid.params import Param, ParamSet, parse_params
from sysid.priors import Priors
from sysid.sim import Simulator
from sysid.track import bind_log
from sysid.uncertainty import identifiability, signal_weights, uncertainty

NAMES = ["damping@hinge", "armature@hinge", "frictionloss@hinge"]


def _linear_params(n: int) -> ParamSet:
    """n linear parameters on [-1, 1] (value = 2 u - 1)."""
    return ParamSet([Param(f"com@b{i}.x", "com", f"b{i}", 0, 0.0, -1.0, 1.0, "linear") for i in range(n)])


def test_signal_weights_rescale_each_signal_by_its_own_residual_variance():
    rng = np.random.default_rng(0)
    r = np.concatenate([rng.normal(0, 2.0, 4000), rng.normal(0, 0.5, 4000), [3.0]])
    groups = np.concatenate([np.zeros(4000, int), np.ones(4000, int), [-1]])
    w = signal_weights(r, groups, dim=2)
    assert w[0] == pytest.approx(0.5, rel=0.03) and w[4000] == pytest.approx(2.0, rel=0.03)
    assert w[-1] == 1.0  # a prior's scale is known


def test_uncertainty_weights_signals_separately():
    # Two signals see the parameter equally; the second is 4x noisier than its nominal level.
    rng = np.random.default_rng(1)
    m = 2000
    jac = np.ones((2 * m, 1))
    r = np.concatenate([rng.normal(0, 1.0, m), rng.normal(0, 4.0, m)])
    groups = np.repeat([0, 1], m)
    unc = uncertainty(_linear_params(1), np.zeros(1), jac, r, groups=groups)
    expected = 1 / np.sqrt(m / 1.0 + m / 16.0)  # weighted least squares, in u
    assert unc.std[0] == pytest.approx(2 * expected, rel=0.05)  # d value / d u = 2
    pooled = uncertainty(_linear_params(1), np.zeros(1), jac, r)
    assert pooled.std[0] > 1.2 * unc.std[0]  # one pooled variance over-states it


def test_identifiability_names_unidentifiable_parameters_with_a_remedy():
    rng = np.random.default_rng(2)
    a, b, c = rng.normal(size=(3, 5000))
    jac = np.column_stack([a, a + 0.1 * b, c, np.full(5000, 1e-3)])
    unc = uncertainty(_linear_params(4), np.zeros(4), jac, rng.normal(size=5000))
    assert list(unc.identifiable) == [False, False, True, False]
    assert len(unc.problems) == 2
    assert "com@b3.x is not identifiable: its 95% interval is wider than its bounds" in unc.problems[0]
    assert unc.problems[1].startswith("com@b0.x and com@b1.x are 99% correlated: the data cannot tell them apart")
    assert all("fix" in p and "prior" in p for p in unc.problems)


def test_identifiability_thresholds():
    corr = np.array([[1.0, 0.94], [0.94, 1.0]])
    assert identifiability(["a", "b"], np.array([0.5, 0.99]), corr) == (pytest.approx([True, True]), ())
    ok, problems = identifiability(["a", "b"], np.array([0.5, 1.0]), -corr * 1.02)
    assert list(ok) == [False, False] and "96% correlated" in problems[-1]


def test_intervals_cover_the_truth():
    """Interval coverage: 10 fits of noisy 1 s pendulum logs, 30 true values; a 95% interval
    should miss about 1.5 of them."""
    truth = with_values(mujoco.MjModel.from_xml_string(PENDULUM_XML), TRUTH)
    model = mujoco.MjModel.from_xml_string(PENDULUM_XML)
    params = parse_params("damping,armature,friction", model)
    true = np.array([TRUTH[n] for n in NAMES])
    covered = 0
    for seed in range(10):
        result = fit(model, [make_log(truth, 1.0, seed=100 + seed)], params,
                     FitConfig(horizons=(0.3,), optimizer="lsq", nthread=2), progress=False)
        lo, hi = result.uncertainty.ci95.T
        covered += int(np.sum((lo <= true) & (true <= hi)))
    assert covered >= 27  # at least 90%


# --- priors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("priors, message", [
    ({"damping@hinge": {"mean": 0.2}}, r"priors.damping@hinge must be \{mean: <value>, std: <value>\}"),
    ({"damping@hinge": {"mean": 0.2, "std": 0}}, "std must be positive"),
    ({"damping@hinge": {"mean": "a", "std": 1}}, "mean must be a finite number"),
    ({"damping@hinge": 0.2}, "must be {mean"),
    ([1, 2], "'priors' must map parameter names"),
])
def test_bad_priors_are_user_errors(priors, message):
    with pytest.raises(UserError, match=message):
        FitConfig(priors=priors)


def test_priors_must_match_a_parameter(pendulum):
    with pytest.raises(UserError, match=r"'priors' entry 'mass@\*' matches none of the fitted parameters"):
        Priors.from_config({"mass@*": {"mean": 1, "std": 1}}, parse_params("damping", pendulum))


def test_config_file_priors(tmp_path):
    path = tmp_path / "fit.yaml"
    path.write_text("priors:\n  damping@*: {mean: 0.3, std: 0.1}\n")
    assert FitConfig(**load_config(path).run).priors == {"damping@*": {"mean": 0.3, "std": 0.1}}
    path.write_text("priors:\n  damping@*: {mean: 0.3, sd: 0.1}\n")
    with pytest.raises(UserError, match="priors.damping@"):
        FitConfig(**load_config(path).run)


def test_priors_are_extra_residuals_of_the_objective(pendulum, noisy_log):
    params = parse_params("damping,armature", pendulum)
    priors = Priors.from_config({"armature@*": {"mean": 0.03, "std": 0.01}}, params)
    loss = ShootingLoss(Simulator(pendulum, params, nthread=1), [bind_log(noisy_log, pendulum)], 0.1, max_windows=2)
    objective = Objective(loss, refine_states=True, priors=priors)
    assert objective.m == loss.m + 1 and objective.groups[-1] == -1
    x = objective.start(params.to_unit(np.array([0.3, 0.05])))
    r = objective.residuals(x[None])[0]
    assert r[-1] == pytest.approx((0.05 - 0.03) / 0.01)
    jac = objective.jacobian(x, r)
    assert np.all(jac[-1, 2:] == 0) and jac[-1, 0] == 0 and jac[-1, 1] > 0


def test_a_strong_prior_sets_the_value_and_its_interval(pendulum, noisy_log):
    params = parse_params("damping,armature,friction", pendulum)
    config = FitConfig(horizons=(0.3,), optimizer="lsq", nthread=2, priors={"armature@hinge": {"mean": 0.025, "std": 1e-7}})
    result = fit(pendulum, [noisy_log], params, config, progress=False)
    assert result.values[1] == pytest.approx(0.025, abs=5e-7)  # MAP: the prior dominates the data here
    assert result.uncertainty.std[1] < 1.1e-7
    assert abs(result.values[0] / TRUTH["damping@hinge"] - 1) > 0.01  # damping compensates the wrong armature


def test_inertial_combinations_std_matches_their_spread_over_seeds():
    """Mass, centre of mass and inertia of a pendulum link are not identifiable one by one, but
    combinations of them are (gravity sees m c, the swing m c^2 + I): over 6 noisy logs, the spread of
    the fitted values along the best-determined combinations is within 2x of their standard errors."""
    truth = with_values(mujoco.MjModel.from_xml_string(PENDULUM_XML), TRUTH)
    params = parse_params("mass@link,com@link.z,inertia@link", truth)
    fits = []
    for seed in range(6):
        result = fit(truth, [make_log(truth, 1.0, seed=200 + seed)], params,
                     FitConfig(horizons=(0.3,), optimizer="lsq", nthread=2), progress=False)
        fits.append((result.values, result.uncertainty))
    first = fits[0][1].combinations
    assert len(first) == 3 and first[0].std < first[1].std < first[2].std
    names = params.names
    for k in range(2):  # the two the motion determines
        w = np.array([first[k].weights[n] for n in names])
        scale = np.array([first[k].scale[n] for n in names])
        projected = [float(w @ (values / scale)) for values, _ in fits]
        reported = np.mean([u.combinations[k].std for _, u in fits])
        assert 0.5 < np.std(projected, ddof=1) / reported < 2.0, (k, np.std(projected, ddof=1), reported)
    # One parameter alone is far less determined than the best combination.
    assert max(fits[0][1].std / np.abs(fits[0][0])) > 10 * first[0].std
