"""Root conftest of the checkout: the suite's pytest wiring lives in conformance/plugin.py.

An installed suite (also ``pip install -e .``) registers the plugin through its ``pytest11`` entry
point under the same name, ``conformance.plugin``; pytest then skips this line (a plugin of that
name is already registered), so the plugin is never loaded twice.  Without the entry point (no
install, or PYTEST_DISABLE_PLUGIN_AUTOLOAD=1) this line loads it.
"""
pytest_plugins = ["conformance.plugin"]
