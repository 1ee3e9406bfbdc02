"""The one TOML helper: tomllib errors as a line, tables written and updated by tomlkit."""

from __future__ import annotations

import tomllib

import pytest

from shadowdiff.tomlfile import (
    append_table,
    decode_problem,
    new_document,
    parse_document,
    replace_values,
    tables,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('a = 1\nb = "x\n', 2, "Illegal character"),
        ("[[rules]\n", 1, "Expected ']]'"),
        ('a = "x', None, "Unterminated string"),
    ],
)
def test_decode_problem_is_a_message_and_a_line(text: str, line: int | None, message: str) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as err:
        tomllib.loads(text)
    problem = decode_problem(err.value)
    assert problem.line == line
    assert problem.message.startswith(message) and "(at " not in problem.message


def test_written_values_read_back_exactly() -> None:
    odd = 'quote " backslash \\ tab \t newline \n del \x7f ctl \x01 ünï'
    doc = new_document("head")
    append_table(doc, "rules", {"name": odd, "paths": [odd, "b"], "none": None}, comments=["why"])
    append_table(doc, "rules", {"name": "second"})
    text = doc.as_string()
    assert text.startswith("# head\n\n# why\n[[rules]]\n")
    assert tomllib.loads(text) == {
        "rules": [{"name": odd, "paths": [odd, "b"]}, {"name": "second"}]
    }


def test_replace_values_keeps_comments_places_and_order() -> None:
    doc = parse_document(
        '# top\n\n[[t]]\nk = "a"  # about k\nold = 1\ngone = 2\n'
        '\n# before the next\n[[t]]\nk = "b"\n'
    )
    aot = tables(doc, "t")
    assert aot is not None
    replace_values(aot, 0, {"k": "A", "gone": None, "new": 3})
    assert doc.as_string() == (
        '# top\n\n[[t]]\nk = "A"  # about k\nold = 1\nnew = 3\n'
        '\n# before the next\n[[t]]\nk = "b"\n'
    )
    assert tables(parse_document("t = [1]\n"), "t") is None
