"""Package data: templates shipped inside agentidp_analytics_plugin (see setup.py package_dir)."""
