"""Root conftest of the checkout: the suite's pytest wiring lives in conformance/plugin.py."""
pytest_plugins = ["conformance.plugin"]
