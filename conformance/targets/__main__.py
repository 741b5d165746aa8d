"""``python -m conformance.targets``: the table of targets (docs/deploy.md holds it)."""
import importlib

from conformance.targets import builtin_modules
from conformance.targets.base import Target, markdown

if __name__ == "__main__":
    print(markdown([t for m in builtin_modules() for t in vars(importlib.import_module(m)).values()
                    if isinstance(t, Target)]))
