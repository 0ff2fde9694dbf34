"""Tests for sysid.envs: Gymnasium's checker, per-episode draws, the fit's delay convention."""

from __future__ import annotations

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402
from test_bundle import write_calib  # noqa: E402

from sysid.cli import main  # noqa: E402
from sysid.envs import make_env, make_vec_env  # noqa: E402
from sysid.envs.env import delay_weights  # noqa: E402
from sysid.errors import UserError  # noqa: E402
from sysid.sim import held_controls  # noqa: E402

PENDULUM_XML = """\
<mujoco model="pendulum">
  <option timestep="0.002"/>
  <worldbody>
    <body name="link" pos="0 0 1">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.05" frictionloss="0.05"/>
      <inertial pos="0 0 -0.25" mass="1" diaginertia="0.02 0.02 0.001"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="motor" joint="hinge" ctrlrange="-2 2"/>
  </actuator>
</mujoco>
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("envs")
    assert main(["export", str(write_calib(tmp / "calib")), "--out", str(tmp / "bundle")]) == 0
    return tmp / "bundle"


@pytest.fixture
def pendulum_path(tmp_path):
    path = tmp_path / "pendulum.xml"
    path.write_text(PENDULUM_XML)
    return path


@pytest.mark.parametrize("task", ["swingup", "reach"])
def test_env_passes_gymnasiums_checker(bundle, task):
    with pytest.warns(UserWarning):  # the checker's note on an unbounded observation space
        check_env(make_env(bundle, task=task), skip_render_check=True)


def test_env_on_a_bare_model_passes_the_checker(pendulum_path):
    env = make_env(pendulum_path, task="swingup", episode_s=0.2)
    with pytest.warns(UserWarning):
        check_env(env, skip_render_check=True)
    _, info = env.reset(seed=0)
    assert info == {"params": {}, "delay": 0.0}


def test_each_episode_draws_new_parameters_into_the_model(bundle):
    env = make_env(bundle, task="swingup")
    draws = []
    for seed in range(3):
        _, info = env.reset(seed=seed)
        assert env.model.body_mass[1] == pytest.approx(info["params"]["mass@upper"])
        assert env.delay == info["delay"] == info["params"]["delay"]
        draws.append(info["params"]["mass@upper"])
    assert len(set(draws)) == 3
    fixed = make_env(bundle, task="swingup", randomize=False)
    _, info = fixed.reset(seed=0)
    assert info["params"]["mass@upper"] == 1.2 and info["delay"] == 0.012


@pytest.mark.parametrize("delay", [0.0, 0.013, 0.02, 0.047])
def test_env_applies_the_delay_as_the_fit_does(pendulum_path, delay):
    """The controls the plant sees equal sysid.sim.held_controls over the episode's command log."""
    seen = []
    env = make_env(pendulum_path, task="swingup", delay=delay, actuator=lambda m, d, u: seen.append(u.copy()) or u)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (20, 1))
    for a in actions:
        env.step(a)
    dt, steps = env.model.opt.timestep, env.substeps * len(actions)
    time = np.concatenate([[-1.0], np.arange(len(actions)) * env.task.control_dt])
    command = np.concatenate([[[0.0]], 2.0 * actions])  # zero held before the episode; ctrlrange +-2
    expected = held_controls(time, command, np.zeros(1), steps, dt, delay)[0]
    np.testing.assert_allclose(np.array(seen), expected, atol=1e-12)


class ConstantForce:
    """A residual model that adds a fixed generalized force and records what it was given."""

    def __init__(self, force: float):
        self.force, self.calls = force, 0

    def compute(self, qpos, qvel, ctrl):
        assert qpos.shape == (1, 1) and qvel.shape == (1, 1) and ctrl.shape == (1, 1)
        self.calls += 1
        return np.full((1, 1), self.force)


def test_env_adds_the_residual_force_at_every_model_step(pendulum_path):
    """A residual of +0.5 N m acts like 0.5 N m more motor torque (gear 1): same trajectory."""
    residual = ConstantForce(0.5)
    with_residual = make_env(pendulum_path, task="swingup", randomize=False, residual=residual)
    shifted = make_env(pendulum_path, task="swingup", randomize=False, actuator=lambda m, d, u: u + 0.5)
    for env in (with_residual, shifted):
        env.reset(seed=0)
        for _ in range(10):
            env.step(np.array([0.2]))
    assert residual.calls == 10 * with_residual.substeps
    np.testing.assert_allclose(with_residual.data.qpos, shifted.data.qpos, atol=1e-9)
    assert abs(with_residual.data.qpos[0]) > 1e-3  # it moved


def test_env_residual_reads_the_command_before_the_actuator_hook(pendulum_path):
    """Training pairs the residual with the logged command, so the env gives it the delayed command, not the hook's output."""
    seen = []

    class Recorder:
        def compute(self, qpos, qvel, ctrl):
            seen.append(ctrl[0, 0])
            return np.zeros((1, 1))

    env = make_env(pendulum_path, task="swingup", randomize=False, residual=Recorder(), actuator=lambda m, d, u: 2 * u)
    env.reset(seed=0)
    env.step(np.array([0.25]))  # 0.25 of the way from the centre of ctrlrange +-2: a command of 0.5
    assert seen and np.allclose(seen, 0.5)


def test_env_loads_a_residual_folder_for_its_model(tmp_path, pendulum_path):
    import mujoco

    from actuator_models.residual import ResidualConfig, save_residual, train_residual

    model = mujoco.MjModel.from_xml_path(str(pendulum_path))
    x = np.random.default_rng(0).uniform(-1, 1, (200, 3))
    ensemble = train_residual(x, 0.1 * x[:, 1:2], ResidualConfig(members=2, hidden=(8,), epochs=3), model=model)
    save_residual(tmp_path / "residual", ensemble, model)
    env = make_env(pendulum_path, task="swingup", residual=tmp_path / "residual")
    env.reset(seed=0)
    env.step(np.array([0.3]))
    assert env.residual.report()["rows"] == env.substeps


def test_delay_weights_blend_the_two_commands_in_effect():
    lag, old = delay_weights(0.025, 0.02, 10)
    assert lag == 1
    np.testing.assert_allclose(old, [1, 1, 0.5, 0, 0, 0, 0, 0, 0, 0])


def test_vector_env_draws_per_copy(bundle):
    venv = make_vec_env(bundle, "swingup", num_envs=3)
    obs, info = venv.reset(seed=0)
    assert obs.shape == (3, venv.single_observation_space.shape[0])
    assert len(set(info["params"]["mass@upper"])) == 3
    obs, reward, terminated, truncated, _ = venv.step(np.zeros((3, 2), np.float32))
    assert reward.shape == (3,) and np.isfinite(reward).all()
    venv.close()


def test_episode_truncates_after_episode_s(pendulum_path):
    env = make_env(pendulum_path, task="reach", episode_s=0.1)
    env.reset(seed=0)
    flags = [env.step(np.zeros(1))[3] for _ in range(5)]
    assert flags == [False, False, False, False, True]


def test_unknown_task_is_a_user_error(pendulum_path):
    with pytest.raises(UserError, match="unknown task 'balance'"):
        make_env(pendulum_path, task="balance")


def test_actuator_without_ctrlrange_is_a_user_error(tmp_path):
    path = tmp_path / "free.xml"
    path.write_text(PENDULUM_XML.replace(' ctrlrange="-2 2"', ""))
    with pytest.raises(UserError, match="actuator 'motor' has no ctrlrange"):
        make_env(path)


def test_sb3_ppo_trains_on_the_env(pendulum_path):
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env as sb3_vec_env

    venv = sb3_vec_env(lambda: make_env(pendulum_path, task="swingup", episode_s=0.4), n_envs=2, seed=0)
    model = sb3.PPO("MlpPolicy", venv, n_steps=32, batch_size=32, n_epochs=1, policy_kwargs={"net_arch": [8]}, device="cpu", seed=0)
    model.learn(64)
    action, _ = model.predict(venv.reset(), deterministic=True)
    assert action.shape == (2, 1)
