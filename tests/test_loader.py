"""Loading cases: built-in modules, user modules by path, case_<name> functions, errors."""
import textwrap

import pytest

from cases.api import Case, Tolerance
from conformance.checks.compare import tolerance_for
from conformance.loader import CaseLoadError, builtin_modules, find_case, load_cases


def test_builtin_cases_load_without_tensorflow():
    """In a fresh interpreter (another test of this session may have imported TensorFlow here)."""
    import json
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = ("import json, sys; from conformance.loader import builtin_modules, load_cases; "
            "names = sorted(c.name for c in load_cases(builtin_modules())); "
            "print(json.dumps([names, 'tensorflow' in sys.modules, 'keras' in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names, tensorflow, keras = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"seed_simplernn", "seed_gru", "seed_lstm", "rnn_lstmcell", "mlp_softmax", "binary_sigmoid"} <= set(names)
    assert (tensorflow, keras) == (False, False)


def test_user_module_with_case_objects_and_functions(tmp_path):
    mod = tmp_path / "my_cases.py"
    mod.write_text(textwrap.dedent('''
        from cases.api import Case
        def _b():
            raise AssertionError("not built at load time")
        MINE = Case("mine", family="custom", build=_b)
        def case_tiny():
            """A tiny model."""
            raise AssertionError("not called at load time")
    '''))
    cases = {c.name: c for c in load_cases([str(mod)])}
    assert cases["mine"].family == "custom" and cases["mine"].module == str(mod)
    assert cases["tiny"].family == "user" and cases["tiny"].build_returns_inputs
    assert cases["tiny"].description == "A tiny model."
    assert find_case(str(mod), "tiny").name == "tiny"


def test_broken_user_module_is_one_line(tmp_path):
    mod = tmp_path / "broken.py"
    mod.write_text("import not_a_module_anywhere\n")
    with pytest.raises(CaseLoadError) as err:
        load_cases([str(mod)])
    assert "broken.py failed to import: ModuleNotFoundError" in str(err.value)
    with pytest.raises(CaseLoadError, match="no such file"):
        load_cases([str(tmp_path / "nope.py")])


def test_duplicate_case_names_are_refused(tmp_path):
    mod = tmp_path / "dup.py"
    mod.write_text("from cases.api import Case\nCASES = [Case('seed_lstm', 'x', build=print)]\n")
    with pytest.raises(CaseLoadError, match="declared in both"):
        load_cases(builtin_modules() + [str(mod)])


def test_case_validation():
    with pytest.raises(ValueError):
        Case("bad name!", "f", build=print)
    with pytest.raises(ValueError):
        Case("ok", "f", build=print, keras="pytorch")


def test_tolerances_by_dtype():
    assert tolerance_for("float16").rtol > tolerance_for("float32").rtol
    tight = Tolerance(rtol=1e-6, atol=1e-7)
    assert tolerance_for("float32", tight) == tight
    assert tolerance_for("float16", tight) == tolerance_for("float16")
