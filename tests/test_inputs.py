"""Bad inputs at the boundary: each a one-line error (exit 2), fast, with at most a short excerpt."""

from __future__ import annotations

import os
import time
import warnings

import pytest
from conftest import make_log, write_csv

from sysid.cli import main
from sysid.errors import UserError
from sysid.inputs import excerpt, load_yaml

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" \
       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"


@pytest.fixture
def fit_args(tmp_path, pendulum_path, truth_model):
    log = write_csv(make_log(truth_model, 0.5, seed=1), tmp_path / "run.csv")
    return ["fit", "--model", str(pendulum_path), "--log", str(log), "--params", "damping", "--optimizer", "lsq",
            "--quiet", "--out", str(tmp_path / "out")]


def _one_line_error(argv, capsys) -> str:
    start = time.perf_counter()
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("sysid: warning")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("sysid: error: "), err
    assert time.perf_counter() - start < 20
    return lines[0]


@pytest.mark.parametrize("option", ["--config", "--map"])
def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path, fit_args, capsys, option):
    (tmp_path / "bomb.yaml").write_text(BOMB)
    line = _one_line_error([*fit_args, option, str(tmp_path / "bomb.yaml")], capsys)
    assert "bomb.yaml: YAML syntax error at line 1" in line and "anchors (&name) are not allowed" in line
    assert len(line) < 400


def test_a_plain_alias_is_refused_too(tmp_path):
    (tmp_path / "m.yaml").write_text("time: {column: t}\nx.pos: *missing\n")
    with pytest.raises(UserError, match="aliases .*name. are not allowed"):
        load_yaml(tmp_path / "m.yaml", what="map file")


def test_a_long_bad_value_is_quoted_as_a_short_excerpt(tmp_path, fit_args, capsys):
    (tmp_path / "fit.yaml").write_text("horizons: " + "x" * 100000 + "\n")
    line = _one_line_error([*fit_args, "--config", str(tmp_path / "fit.yaml")], capsys)
    assert "horizons" in line and len(line) < 400
    assert excerpt(list(range(10**6))) == "<list of 1000000 items>"


@pytest.mark.parametrize("config, fragment", [
    ("optimizer_options: {lsq: {max_iterations: abc}}", "lsq: max_iterations must be a whole number, at least 1"),
    ("optimizer_options: {cmaes: {popsize: abc}}", "cmaes: popsize must be a whole number"),
    ("optimizer_options: {cmaes: {sigma0: .nan}}", "sigma0 must be a positive finite number"),
    ("optimizer_options: {cmaez: {popsize: 8}}", "unknown optimizer 'cmaez'"),
    ("optimizer_options: {lsq: [1, 2]}", "lsq: expected a mapping"),
    ("seed: 99999999999999999999999", "seed must be at least 0 and at most 4294967295"),
    ("max_windows: 1.5", "'max_windows' must be int"),
    ("nthread: -3", "nthread must be at least 1"),
    ("horizons: [.inf]", "horizons must be a list of finite seconds"),
    ("actuators: {control_dt: abc}", "control_dt must be a positive number of seconds"),
    ("actuators: {'pd@hinge': {fit: 3}}", "fit must be a list of setting names"),
    ("actuators: {'pd@hinge': {per_log: 3}}", "per_log must map log-name globs"),
    ("actuators: {'pd@hinge': {enable: [1]}}", "enable must name an actuator"),
])
def test_config_values_are_type_and_range_checked(tmp_path, fit_args, capsys, config, fragment):
    (tmp_path / "fit.yaml").write_text(config + "\n")
    loop = ["--actuator", "pd@hinge"] if config.startswith("actuators") else []  # actuator settings are read with --actuator
    assert fragment in _one_line_error([*fit_args, "--config", str(tmp_path / "fit.yaml"), *loop], capsys)


@pytest.mark.parametrize("option, value, fragment", [
    ("--seed", "99999999999999999999999", "--seed 99999999999999999999999: out of range"),
    ("--seed", "-1", "--seed -1: must be at least 0"),
    ("--threads", "0", "--threads 0: must be at least 1"),
    ("--starts", str(2**40), "out of range"),
])
def test_numeric_options_are_range_checked(fit_args, capsys, option, value, fragment):
    assert fragment in _one_line_error([*fit_args, option, value], capsys)


def test_a_fifo_log_is_refused_without_blocking(tmp_path, fit_args, capsys):
    os.mkfifo(tmp_path / "pipe.csv")
    argv = [*fit_args]
    argv[argv.index("--log") + 1] = str(tmp_path / "pipe.csv")
    assert "FIFO (named pipe), not a regular file" in _one_line_error(argv, capsys)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_huge_log_read_whole_is_refused_before_reading(tmp_path, fit_args, capsys, suffix):
    huge = tmp_path / f"huge{suffix}"
    with open(huge, "wb") as f:
        f.truncate(2 * 2**30)  # sparse: 2 GiB that take no disk
    argv = [*fit_args]
    argv[argv.index("--log") + 1] = str(huge)
    assert "2048 MiB, more than the 1024 MiB sysid reads whole" in _one_line_error(argv, capsys)


def test_a_fifo_model_is_refused(tmp_path, fit_args, capsys):
    os.mkfifo(tmp_path / "robot.xml")
    argv = [*fit_args]
    argv[argv.index("--model") + 1] = str(tmp_path / "robot.xml")
    assert "robot.xml: cannot read file (it is a FIFO" in _one_line_error(argv, capsys)


def test_numpy_warnings_are_reworded_once(capsys):
    import numpy as np

    from sysid import cli

    cli._NUMPY_WARNED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = cli._show_warning
        for _ in range(3):
            np.array([1e308]) * 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sysid: warning: a computation met overflow") and "shown once" in err[0]

