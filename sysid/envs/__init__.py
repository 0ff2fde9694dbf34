"""Gymnasium environments on a calibrated bundle (`sysid export`), for policy trainers.

    env = sysid.envs.make_env("bundle/", task="swingup")            # parameters drawn each episode
    venv = sysid.envs.make_vec_env("bundle/", task="swingup", num_envs=8)
    model, delay, values, loop = sysid.envs.sample_model("bundle/", rng)   # for trainers with their own loop

Needs the `rl` extra (gymnasium): `pip install -e ".[rl]"`.
"""

from sysid.bundle import Bundle, SampledModel, load_bundle, sample_model
from sysid.envs.env import ActuatorHook, SysidEnv, make_env, make_vec_env
from sysid.envs.tasks import TASKS, Reach, SwingUp, Task, make_task

__all__ = [
    "TASKS",
    "ActuatorHook",
    "Bundle",
    "Reach",
    "SampledModel",
    "SwingUp",
    "SysidEnv",
    "Task",
    "load_bundle",
    "make_env",
    "make_task",
    "make_vec_env",
    "sample_model",
]
