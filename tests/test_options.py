"""Option parsing: good values and one-line errors."""
import pytest

from conformance.run.options import OptionError, check_converters, parse_converters, parse_opsets


def test_opsets_lists_and_ranges():
    assert parse_opsets("13, 9,11-12", 23) == (9, 11, 12, 13)


@pytest.mark.parametrize("text,msg", [("", "no opset"), ("nine", "not an opset number"), ("0", "not an ONNX opset"),
                                      ("99", "not an ONNX opset"), ("13-9", "not a range")])
def test_bad_opsets(text, msg):
    with pytest.raises(OptionError, match=msg):
        parse_opsets(text, 23)


def test_converters_selection_and_unknown_names():
    known = ["a", "b", "c"]
    assert check_converters(None, known) == known
    assert check_converters(parse_converters("c, a"), known) == ["c", "a"]
    with pytest.raises(OptionError, match="unknown converter.*zz.*known: a, b, c"):
        check_converters(parse_converters("a,zz"), known)
    with pytest.raises(OptionError):
        parse_converters(" , ")
