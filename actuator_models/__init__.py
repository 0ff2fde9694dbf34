"""Actuator and residual models that plug into `sysid.sim` (analytic motors, actuator networks,
residual dynamics). Nothing is implemented here yet: see the actuator-models issue."""
