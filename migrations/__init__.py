"""Package data: migrations shipped inside agentidp_analytics_plugin (see setup.py package_dir)."""
