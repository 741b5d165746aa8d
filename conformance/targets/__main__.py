"""``python -m conformance.targets``: the table of targets (docs/deploy.md holds it)."""
from conformance.loader import builtin_targets
from conformance.targets.base import markdown

if __name__ == "__main__":
    print(markdown(builtin_targets()))
