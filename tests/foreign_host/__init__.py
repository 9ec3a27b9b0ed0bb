"""Orbit ID, a host written from the plugin's README alone, and the tests an integrator runs against it."""
