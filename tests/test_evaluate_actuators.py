"""sysid eval of a fit folder with actuator models (actuators.json)."""

import json

import numpy as np

from sysid.evaluate import fit_folder

XML = """<mujoco><option timestep="0.002"/><worldbody><body name="arm">
  <joint name="servo" type="hinge" axis="0 1 0"/><inertial pos="0 0 -0.1" mass="0.5" diaginertia="1e-5 1e-5 1e-5"/>
</body></worldbody><actuator><position name="servo" joint="servo" kp="1"/></actuator></mujoco>"""


def test_fit_folder_reads_a_dcmotor_without_current_limit(tmp_path):
    # actuators.json as `sysid fit` writes it: the default max_current (inf) is written as null.
    (tmp_path / "calibrated.xml").write_text(XML)
    (tmp_path / "result.json").write_text(json.dumps({"params": {"kt@servo": {"value": 0.5}}, "actuator_models": ["actuators.json"]}))
    (tmp_path / "actuators.json").write_text(json.dumps({"control_dt": 0.004, "models": [{
        "model": "dcmotor", "target": "servo", "fitted": ["kt", "R"], "enable": None, "inputs": {},
        "settings": {"kt": 0.5, "R": 7.8, "vin": 7.3, "duty_gain": 0.00288, "gain": 1.0, "max_duty": 1.0, "max_current": None,
                     "command": "position", "load_friction": 0.0, "smooth_vel": 0.05},
        "per_log": {"*kp100_*": {"gain": 100}}}]}))
    config = fit_folder("ours", tmp_path).loop.bindings[0].config
    assert np.isinf(config.max_current) and config.kt == 0.5 and config.R == 7.8
