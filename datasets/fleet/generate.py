"""Generate a fleet of three simulated 2-link arms (datasets/arm2's model) with different true values.

arm_a has datasets/arm2's true values; arm_b's masses, damping and armature differ by a few
percent (another unit of the same robot); arm_c is like arm_a but its shoulder friction is three
times higher (a worn joint): `sysid fleet` should flag it. Each robot has one 3 s multisine log,
its own noise seed. Run from the repository root:

    python datasets/fleet/generate.py          # rewrites datasets/fleet/*.csv and truth.json
    sysid fleet datasets/fleet/fleet.yaml --out fleet_out
"""

from __future__ import annotations

import importlib.util
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("arm2_generate", HERE.parent / "arm2" / "generate.py")
arm2 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(arm2)

DURATION = 3.0  # s per robot
CHANGES = {  # factors on datasets/arm2/truth.json per robot
    "arm_a": {},
    "arm_b": {"mass@upper": 1.05, "mass@fore": 0.96, "damping@shoulder": 1.08, "damping@elbow": 0.93,
              "armature@shoulder": 1.06, "frictionloss@elbow": 1.05},
    "arm_c": {"frictionloss@shoulder": 3.0, "damping@elbow": 1.04},
}


def truths() -> dict[str, dict[str, float]]:
    """{robot: {parameter: true value}}."""
    return {robot: {name: value * factors.get(name, 1.0) for name, value in arm2.TRUTH.items()}
            for robot, factors in CHANGES.items()}


def main() -> None:
    table = truths()
    for seed, (robot, truth) in enumerate(table.items(), start=10):
        arm2.make_log(DURATION, seed, model=arm2.true_model(truth)).to_csv(HERE / f"{robot}.csv", index=False, float_format="%.7g")
        print(f"wrote {HERE / f'{robot}.csv'}")
    (HERE / "truth.json").write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    main()
