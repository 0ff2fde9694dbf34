"""`--ray` on a two-node Ray cluster started here (`ray.cluster_utils.Cluster`, one CPU per node):
the same numbers as the local fit, a worker killed mid-fit, Ctrl-C of the driver, an unreachable
address, a fleet, and no Ray import without --ray."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import ray
from ray.cluster_utils import Cluster

from sysid.cli import main

REPO = pathlib.Path(__file__).resolve().parents[1]
ARM = REPO / "datasets" / "arm2" / "arm2.xml"
PARAMS = "mass,damping,frictionloss,armature"
STARTS_CONFIG = "horizons: [0.1, 0.3]\n"
# CMA-ES runs (no least-squares probe first) with a population of 64, split across the actors.
POPULATION_CONFIG = "horizons: [0.1, 0.3]\nlocal_first: false\noptimizer_options:\n  cmaes: {popsize: 64, max_evaluations: 600}\n"


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes of one CPU each on this machine, this process connected as the driver."""
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes.add_node(num_cpus=1)
    ray.init(address=nodes.address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield nodes
    finally:
        ray.shutdown()
        nodes.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, pathlib.Path]:
    """1.5 s of the bundled arm's log and the two fit configs."""
    folder = tmp_path_factory.mktemp("ray_inputs")
    lines = (REPO / "datasets" / "arm2" / "run1.csv").read_text().splitlines()
    (folder / "run.csv").write_text("\n".join(lines[:751]) + "\n")  # header + 1.5 s at 500 Hz
    (folder / "starts.yaml").write_text(STARTS_CONFIG)
    (folder / "population.yaml").write_text(POPULATION_CONFIG)
    return {"log": folder / "run.csv", "starts": folder / "starts.yaml", "population": folder / "population.yaml", "tmp": folder}


def _argv(inputs, out, config: str, *extra: str) -> list[str]:
    return ["fit", "--model", str(ARM), "--log", str(inputs["log"]), "--params", PARAMS, "--config", str(inputs[config]),
            "--check", "off", "--quiet", "--out", str(out), *extra]


def _fit(inputs, out, config: str, *extra: str) -> dict:
    assert main(_argv(inputs, out, config, *extra)) == 0
    return json.loads((out / "result.json").read_text())


def _numbers(result: dict) -> dict:
    """What must not change between a local and a Ray fit."""
    return {"values": {k: v["value"] for k, v in result["params"].items()}, "std": {k: v["std"] for k, v in result["params"].items()},
            "loss": result["loss"], "starts": result.get("starts"), "evaluations": result["evaluations"],
            "sim_steps": result["sim_steps"], "rmse": result["rmse"]}


@pytest.fixture(scope="module")
def local_starts(inputs) -> dict:
    return _fit(inputs, inputs["tmp"] / "local_starts", "starts", "--starts", "4", "--seed", "3")


def test_four_starts_on_two_nodes_give_the_local_result(cluster, inputs, local_starts, tmp_path):
    result = _fit(inputs, tmp_path / "ray", "starts", "--starts", "4", "--seed", "3", "--ray", cluster.address)
    assert [s["seed"] for s in result["starts"]] == [3, 4, 5, 6]
    assert _numbers(result) == _numbers(local_starts)  # bit for bit


@pytest.fixture(scope="module")
def local_population(inputs) -> dict:
    return _fit(inputs, inputs["tmp"] / "local_population", "population")


def test_a_population_of_64_split_across_actors_gives_the_local_result(cluster, inputs, local_population, tmp_path):
    stage = local_population["stages"][0]
    assert stage.startswith("cmaes") and "640 evaluations" in stage  # 10 generations of 64
    remote = _fit(inputs, tmp_path / "ray", "population", "--ray", cluster.address)
    assert _numbers(remote) == _numbers(local_population)  # the remote steps are counted too


def _ray_processes(title: str, *, since: float = 0.0) -> list[psutil.Process]:
    """Ray worker processes running a task or actor `title` (their process title), started after `since` (epoch s)."""
    found = []
    for process in psutil.process_iter(["cmdline", "create_time"]):
        with_title = " ".join(process.info["cmdline"] or ())
        if with_title.startswith(title) and process.info["create_time"] >= since:
            found.append(process)
    return found


def _kill_when_running(title: str, done: threading.Event) -> list[int]:
    """SIGKILL the first Ray worker whose title starts with `title` (a task running there)."""
    killed = []
    while not done.is_set() and not killed:
        for process in _ray_processes(title):
            process.kill()
            killed.append(process.pid)
            break
        time.sleep(0.02)
    return killed


@pytest.mark.parametrize("worker", ["start task", "population actor"])
def test_a_worker_killed_mid_fit_is_retried_and_the_fit_gives_the_same_result(cluster, inputs, request, tmp_path, worker):
    out = tmp_path / "ray"
    done, answer = threading.Event(), {}
    if worker == "start task":
        title, argv, local = "ray::_fit_start", _argv(inputs, out, "starts", "--starts", "4", "--seed", "3"), "local_starts"
    else:
        title, argv, local = "ray::PopulationWorker", _argv(inputs, out, "population"), "local_population"
    expected = request.getfixturevalue(local)

    def run():
        answer["code"] = main([*argv, "--ray", cluster.address])
        done.set()

    fit = threading.Thread(target=run)
    fit.start()
    killed = _kill_when_running(title, done)
    fit.join(timeout=120)
    assert killed, f"no {worker} was running to kill"
    assert answer["code"] == 0
    assert _numbers(json.loads((out / "result.json").read_text())) == _numbers(expected)


def test_ctrl_c_of_the_driver_writes_the_best_result_so_far(cluster, inputs, tmp_path):
    config = inputs["tmp"] / "long.yaml"  # starts long enough to be interrupted
    config.write_text("horizons: [0.1, 0.3]\nlocal_first: false\noptimizer_options:\n  cmaes: {popsize: 64, max_evaluations: 20000, "
                      "tolx: 1.0e-12}\n")
    out = tmp_path / "calib"
    argv = _argv(inputs, out, "starts", "--starts", "2", "--ray", cluster.address)
    argv[argv.index(str(inputs["starts"]))] = str(config)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    started = time.time() - 1.0  # process start times are rounded
    driver = subprocess.Popen([sys.executable, "-m", "sysid_launch", *argv], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    # A Ray job gets its own worker processes: wait for this driver's starts to run.
    while not _ray_processes("ray::_fit_start", since=started) and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.05)
    time.sleep(2.0)  # into the search
    driver.send_signal(signal.SIGINT)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == 130, err
    assert "Traceback" not in err and "wrote the best result so far" in err
    result = json.loads((out / "result.json").read_text())
    assert result["interrupted"] is True and result["loss"]["final"] < result["loss"]["initial"]


def test_an_unreachable_address_is_one_line_and_exit_2(inputs, tmp_path, capsys):
    started = time.monotonic()
    assert main(_argv(inputs, tmp_path / "out", "starts", "--ray", "127.0.0.1:9")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sysid: error: --ray 127.0.0.1:9: cannot reach the Ray cluster")
    assert main(_argv(inputs, tmp_path / "out", "starts", "--ray", "nowhere")) == 2
    assert "expected auto, local or a cluster address HOST:PORT" in capsys.readouterr().err
    assert time.monotonic() - started < 15 and not (tmp_path / "out").exists()


def test_a_fleet_on_ray_recovers_each_robot_and_flags_the_worn_joint(cluster, tmp_path, capsys):
    fleet = REPO / "datasets" / "fleet"
    assert main(["fleet", str(fleet / "fleet.yaml"), "--out", str(tmp_path / "fleet"), "--ray", cluster.address]) == 0
    printed = capsys.readouterr().out
    truth = json.loads((fleet / "truth.json").read_text())
    for robot, values in truth.items():
        result = json.loads((tmp_path / "fleet" / robot / "result.json").read_text())
        for name, value in values.items():
            assert result["params"][name]["value"] == pytest.approx(value, rel=0.05), (robot, name)
        assert (tmp_path / "fleet" / robot / "calibrated.xml").is_file()
    summary = json.loads((tmp_path / "fleet" / "summary.json").read_text())
    assert [(o["robot"], o["param"]) for o in summary["outliers"]] == [("arm_c", "frictionloss@shoulder")]
    assert "outlier: frictionloss@shoulder of arm_c" in printed
    assert "| frictionloss@shoulder |" in (tmp_path / "fleet" / "summary.md").read_text()


def test_without_ray_nothing_imports_it_and_a_missing_ray_is_one_line(inputs, tmp_path):
    code = (f"import sys; from sysid.cli import main; rc = main({_argv(inputs, tmp_path / 'a', 'starts')!r}); "
            f"assert rc == 0 and 'ray' not in sys.modules, sorted(m for m in sys.modules if 'ray' in m)\n"
            "import importlib.util; find = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda name, *a: None if name == 'ray' else find(name, *a)\n"
            f"sys.exit(main({_argv(inputs, tmp_path / 'b', 'starts', '--ray', 'local')!r}))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == ('sysid: error: --ray needs ray, which is not installed: '
                                                    'pip install "sysid[ray]"')


def test_eval_scores_each_model_on_ray_with_the_local_numbers(cluster, inputs, local_starts, tmp_path):
    argv = ["eval", "--model", f"nominal={ARM}", "--fit", f"fitted={inputs['tmp'] / 'local_starts'}", "--log", str(inputs["log"]),
            "--horizons", "0.5,open", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "local")]) == 0
    assert main([*argv, "--out", str(tmp_path / "ray"), "--ray", cluster.address]) == 0
    local, remote = (json.loads((tmp_path / name / "eval.json").read_text()) for name in ("local", "ray"))
    assert remote["models"] == local["models"] and local["best"]["0.5"] == "fitted"


def test_a_user_error_inside_a_ray_task_is_one_line(cluster, tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("time,nothing\n0,1\n0.002,2\n")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"robots:\n  - {{name: a, model: {ARM}, logs: [bad.csv], params: damping}}\n")
    assert main(["fleet", str(fleet), "--out", str(tmp_path / "out"), "--ray", cluster.address, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sysid: error: robot 'a': ") and "bad.csv" in err[0]


def test_cross_validation_folds_on_ray_give_the_local_result(cluster, inputs, tmp_path):
    extra = ("--cv", "2", "--optimizer", "lsq", "--horizons", "0.25")
    local = _fit(inputs, tmp_path / "local", "starts", *extra)
    remote = _fit(inputs, tmp_path / "ray", "starts", *extra, "--ray", cluster.address)
    assert [f["params"] for f in remote["cv"]["folds"]] == [f["params"] for f in local["cv"]["folds"]]
    assert remote["cv"]["by_horizon"] == local["cv"]["by_horizon"] and _numbers(remote) == _numbers(local)
