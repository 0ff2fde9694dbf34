"""`sysid fleet`'s file and summary, without fitting: one-line errors, the outlier rule, the table.
(The fleet fitted end to end on Ray: tests/test_ray.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from sysid.cli import main
from sysid.errors import UserError
from sysid.fleet import format_markdown, format_table, load_fleet, robust_z, summarize


@pytest.fixture
def fleet_dir(tmp_path):
    (tmp_path / "arm.xml").write_text("<mujoco/>")
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("time\n0\n")
    return tmp_path


def _write(folder, text: str):
    path = folder / "fleet.yaml"
    path.write_text(text)
    return path


def test_a_fleet_file_resolves_paths_and_defaults(fleet_dir):
    robots = load_fleet(_write(fleet_dir, "defaults: {model: arm.xml, params: damping}\n"
                                          "robots:\n  - {name: a, logs: [a.csv]}\n  - {name: b, logs: b.csv, params: mass}\n"))
    assert [(r.name, r.params, len(r.logs)) for r in robots] == [("a", "damping", 1), ("b", "mass", 1)]
    assert robots[0].model == str(fleet_dir / "arm.xml") and robots[1].logs == (str(fleet_dir / "b.csv"),)


@pytest.mark.parametrize("text, message", [
    ("robots: []\n", "expected 'robots:'"),
    ("robots:\n  - {name: a, model: arm.xml, logs: [a.csv]}\n", "robot 'a': 'params' is required"),
    ("robots:\n  - {name: ../x, model: arm.xml, logs: [a.csv], params: damping}\n", "robot 1: 'name' must be a folder name"),
    ("robots:\n  - {name: a, model: arm.xml, logs: [a.csv], params: damping, seed: 3}\n", "robot 1: unknown key(s) seed"),
    ("robots:\n  - {name: a, model: arm.xml, logs: [a.csv], params: d}\n  - {name: a, model: arm.xml, logs: [b.csv], params: d}\n",
     "robot 'a': listed twice"),
    ("robots:\n  - {name: a, model: arm.xml, logs: [missing.csv], params: d}\n", "missing.csv: log not found"),
    ("robots:\n  - {name: a, model: arm.xml, logs: [], params: d}\n", "'logs' must be a list of log files"),
    ("fleet: 1\nrobots:\n  - {name: a}\n", "unknown key(s) fleet"),
])
def test_a_bad_fleet_file_is_one_line_naming_the_robot(fleet_dir, capsys, text, message):
    path = _write(fleet_dir, text)
    with pytest.raises(UserError, match=None) as error:
        load_fleet(path)
    assert message in str(error.value) and str(path) in str(error.value)
    assert main(["fleet", str(path), "--out", str(fleet_dir / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def _result(values: dict[str, float]) -> dict:
    return {"params": {k: {"value": v} for k, v in values.items()}, "loss": {"final": 1.0}}


def test_the_summary_flags_an_outlier_but_not_robots_that_agree_within_noise():
    results = {"a": _result({"friction": 0.200, "mass": 1.200}), "b": _result({"friction": 0.201, "mass": 1.26}),
               "c": _result({"friction": 0.600, "mass": 1.199}), "d": _result({"friction": 0.199, "mass": 1.1995})}
    summary = summarize(results)
    assert [(o["robot"], o["param"]) for o in summary["outliers"]] == [("c", "friction")]
    # mass of b: robust z far above 3.5 (the others agree to 0.1%), but only 5% from the median: not flagged
    assert abs(summary["params"]["mass"]["robust_z"]["b"]) > 3.5 and summary["params"]["mass"]["outliers"] == []
    assert summary["params"]["friction"]["median"] == pytest.approx(0.2005)
    table = format_table(summary)
    assert "0.6 *" in table and "outlier: friction of c = 0.6" in table
    assert "| friction | 0.2 | 0.201 | 0.6 * | 0.199 | 0.2005 |" in format_markdown(summary)


def test_robust_z_with_a_zero_mad():
    z, median, mad = robust_z(np.array([1.0, 1.0, 1.0, 2.0]))
    assert median == 1.0 and mad == 0.0 and z[0] == 0.0 and np.isinf(z[3])
