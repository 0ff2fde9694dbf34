"""Tests for sysid.report: fit and convergence figures."""

import matplotlib.image
import numpy as np
import pytest

from sysid.report import MAX_ROWS, Trace, plot_fit, plot_history, rmse

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _trace(log="run1.csv", signal="elbow.pos", n=200, before_offset=0.1, after_offset=0.002):
    t = np.linspace(0.0, 2.0, n)
    y = np.sin(2 * np.pi * t)
    return Trace(log, signal, t, y, y + before_offset, y + after_offset, "rad")


def _read_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return matplotlib.image.imread(path)


def test_plot_fit_writes_readable_png(tmp_path):
    traces = [_trace(log, sig) for log in ("run1.csv", "run2.csv") for sig in ("a.pos", "b.pos")]
    path = tmp_path / "out" / "fit.png"
    plot_fit(path, traces, title="fit")
    img = _read_png(path)
    h, w = img.shape[:2]
    assert w == 1200  # 10 in at 120 dpi
    assert 900 < h < 1200  # 4 rows of 2 in plus a header
    assert img.std() > 0.05  # not blank


def test_plot_fit_diverged_simulation_does_not_crash(tmp_path):
    tr = _trace()
    before = tr.before.copy()
    before[50:] = np.nan
    before[40:50] = 1e30
    after = tr.after.copy()
    after[-1] = np.inf
    bad = Trace(tr.log_name, tr.signal, tr.time, tr.logged, before, after, tr.unit)
    path = tmp_path / "fit.png"
    plot_fit(path, [bad])
    assert _read_png(path).shape[1] == 1200


def test_plot_fit_caps_rows(tmp_path):
    traces = [_trace(f"run{i}.csv", "elbow.pos", n=20) for i in range(MAX_ROWS + 3)]
    path = tmp_path / "fit.png"
    plot_fit(path, traces)
    h = _read_png(path).shape[0]
    assert h < (0.8 + 2.0 * MAX_ROWS + 0.5) * 120  # only MAX_ROWS rows drawn


def test_plot_fit_rejects_mismatched_shapes():
    t = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match=r"after has shape \(9,\)"):
        Trace("run1.csv", "elbow.pos", t, t, t, t[:9], "rad")


def test_rmse_values():
    logged = np.array([0.0, 1.0, np.nan, 2.0])
    assert rmse(logged + 0.5, logged) == pytest.approx(0.5)
    assert np.isnan(rmse(np.array([0.0, np.nan, 0.0, 0.0]), logged))
    assert rmse(np.array([0.0, 1.0, np.nan, 2.0]), logged) == 0.0  # NaN only where logged is NaN


def test_plot_history_writes_png(tmp_path):
    history = [(10, 2.0, "cmaes"), (20, 1.0, "cmaes"), (30, 1.5, "cmaes"), (35, 0.1, "lsq"), (40, 0.01, "lsq"),
               (45, float("nan"), "lsq")]
    path = tmp_path / "history.png"
    plot_history(path, history, title="convergence")
    img = _read_png(path)
    assert img.shape[:2] == (480, 840)  # 7 x 4 in at 120 dpi


def test_plot_history_empty_or_nonpositive(tmp_path):
    path = tmp_path / "h.png"
    plot_history(path, [])
    assert _read_png(path).shape[:2] == (480, 840)
    plot_history(path, [(1, 0.0, "cmaes"), (2, -1.0, "cmaes")])
    assert _read_png(path).shape[:2] == (480, 840)
