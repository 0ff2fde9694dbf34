"""Train a PPO policy (stable-baselines3) on a calibrated bundle and evaluate it.

    sysid fit --model datasets/arm2/arm2.xml --log datasets/arm2/run1.csv --params mass,damping,frictionloss,armature --out calib/
    sysid export calib/ --out bundle/
    .venv/bin/python examples/train_ppo.py bundle/ --task reach --steps 200000 --out policy.zip

Each training episode draws the bundle's parameters from randomization.yaml (`--no-randomize`
trains on the calibrated values only) and applies the fitted actuation delay. Needs the `rl`
extra: `pip install -e ".[rl]"`.
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from sysid.envs import make_env

# One set of PPO hyperparameters for every training here (after rl-zoo's Pendulum-v1 settings).
PPO_OPTIONS = {"n_steps": 256, "batch_size": 256, "n_epochs": 10, "gamma": 0.95, "gae_lambda": 0.95,
               "learning_rate": 1e-3, "use_sde": True, "sde_sample_freq": 4, "policy_kwargs": {"net_arch": [64, 64]}}


def train(bundle, task="reach", *, steps: int = 200_000, num_envs: int = 8, seed: int = 0, eval_every: int | None = 25_000,
          eval_episodes: int = 5, **env_options) -> PPO:
    """PPO on `num_envs` copies of `make_env(bundle, task, **env_options)`; returns the trained model.

    `env_options` go to `sysid.envs.make_env`: randomize, delay, actuator, and the task's options
    (episode_s, control_dt, ...). Every `eval_every` steps the policy is evaluated on the same
    simulator (`eval_episodes` deterministic episodes); the best weights are kept, as a trainer
    that cannot try its policy on the robot would do.
    """
    venv = make_vec_env(lambda: make_env(bundle, task, **env_options), n_envs=num_envs, seed=seed)
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **PPO_OPTIONS)
    if not eval_every:
        return model.learn(steps, progress_bar=False)
    own = make_env(bundle, task, **env_options)
    best, best_return = None, -np.inf
    for done in range(0, steps, eval_every):
        model.learn(min(eval_every, steps - done), reset_num_timesteps=False, progress_bar=False)
        score = evaluate(model, own, eval_episodes).mean()
        if score > best_return:
            best, best_return = copy.deepcopy(model.get_parameters()), score
    model.set_parameters(best)
    return model


def evaluate(model: PPO, env, episodes: int = 20, seed: int = 10_000) -> np.ndarray:
    """(episodes,) returns of the deterministic policy, one seed per episode."""
    returns = np.zeros(episodes)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            returns[i] += reward
            done = terminated or truncated
    return returns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="a bundle folder from `sysid export` (or a bare MJCF)")
    parser.add_argument("--task", default="reach", choices=["reach", "swingup"])
    parser.add_argument("--steps", type=int, default=200_000, help="environment steps")
    parser.add_argument("--envs", type=int, default=8, help="parallel environments")
    parser.add_argument("--no-randomize", action="store_true", help="train on the calibrated values only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="policy.zip", help="where to save the policy")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small networks: threads cost more than they give
    start = time.perf_counter()
    model = train(args.bundle, args.task, steps=args.steps, num_envs=args.envs, seed=args.seed,
                  randomize=not args.no_randomize)
    model.save(args.out)
    returns = evaluate(model, make_env(args.bundle, args.task, randomize=not args.no_randomize))
    print(f"trained {args.steps} steps in {time.perf_counter() - start:.0f} s; "
          f"return {returns.mean():.1f} +- {returns.std():.1f} over {len(returns)} episodes; saved {args.out}")


if __name__ == "__main__":
    main()
