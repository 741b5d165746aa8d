"""One line of text from a record's sub-results, for the terminal reason and the page.

Pure functions of plain record data (no TensorFlow, no onnx): the parent (``run/matrix.py``) joins
them to a failing cell's reason, the page (``report/html.py``) shows them; the worker-side modules
that produce the data (``checks/divergence.py``, ``checks/second_opinion.py``) re-export them.
"""
from __future__ import annotations


def number(value, spec: str = ".3g") -> str:
    """A statistic of a record for a line of text.  Records travel as JSON, where the worker writes a
    non-finite float as a string (``"inf"``, ``"nan"``: conformance.worker.__main__.sanitize); a NaN
    or infinite error must print as such, never stop the line."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)):
        return format(value, spec)
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return str(value)


def divergence_line(div: dict) -> str:
    """One line for the terminal reason and the page."""
    if not div:
        return ""
    if not div.get("ok"):
        return f"first divergent layer: not found ({div.get('reason', 'no detail')})"
    where = f"{div['layer']} ({div['class']}, layer {div['position']} of {div['layers']}; {div['method']})"
    cmp_ = div.get("comparison") or {}
    if div.get("problem"):
        what = div["problem"]
    elif cmp_:
        what = (f"{cmp_.get('mismatched')}/{cmp_.get('total')} elements outside rtol={number(cmp_.get('rtol'), 'g')}, "
                f"atol={number(cmp_.get('atol'), 'g')}, max abs err {number(cmp_.get('max_abs'))}")
        if cmp_.get("problem"):
            what = cmp_["problem"]
    else:
        what = "diverges"
    before = f"; {div['previous']} before it matches" if div.get("previous") else "; it is the first layer"
    gap = f" (not mapped in between: {', '.join(div['unmapped_before'])})" if div.get("unmapped_before") else ""
    return f"first divergent layer: {where}: {what}{before}{gap}"
