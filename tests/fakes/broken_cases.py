"""A case module that fails to import: the run must stop with one clear line."""
import a_module_that_does_not_exist_anywhere  # noqa: F401
