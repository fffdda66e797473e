"""wg.explain: the lectures' evaluation and adjoint tables, checked on their own worked example
y1 = sin(w1 x + w0), y2 = cos(w1 x + w0) against values computed by hand."""

import math

import pytest

import wengert as wg


def lecture_example(w0, w1, x):
    a5 = x * w1 + w0
    return wg.sin(a5), wg.cos(a5)


W0, W1, X = 0.5, 2.0, 1.5


def test_the_evaluation_trace_is_the_lectures():
    table = wg.explain(lecture_example, W0, W1, X, output=1, show=False)
    assert table.names == [f"a{i}" for i in range(1, 8)]
    assert [table.expressions[f"a{i}"] for i in range(1, 8)] == [
        "w0", "w1", "x", "a3 * a2", "a4 + a1", "sin(a5)  (y1)", "cos(a5)  (y2)"]
    a5 = X * W1 + W0
    expected = [W0, W1, X, X * W1, a5, math.sin(a5), math.cos(a5)]
    assert [table.values[f"a{i}"] for i in range(1, 8)] == pytest.approx(expected, rel=1e-15)


def test_the_adjoints_of_y2_are_the_lectures_by_hand():
    table = wg.explain(lecture_example, W0, W1, X, output=1, show=False)
    a5 = X * W1 + W0
    by_hand = {
        "a7": 1.0, "a6": 0.0,                      # ā7 = 1 (we want dy2), ā6 = 0
        "a5": -math.sin(a5),                       # ā5 = ā6 cos(a5) - ā7 sin(a5)
        "a4": -math.sin(a5), "a1": -math.sin(a5),  # through the sum
        "a2": -math.sin(a5) * X,                   # ā2 = ā4 a3: dy2/dw1 = -x sin(w1 x + w0)
        "a3": -math.sin(a5) * W1,                  # ā3 = ā4 a2
    }
    assert table.adjoints == pytest.approx(by_hand, rel=1e-15)
    assert table.terms["a5"] == "ā6 ∂a6/∂a5 + ā7 ∂a7/∂a5"
    assert table.terms["a7"] == "1" and table.terms["a6"] == "0"


def test_explain_prints_both_tables(capsys):
    wg.explain(lecture_example, W0, W1, X)
    printed = capsys.readouterr().out
    assert "evaluation" in printed and "a4 = a3 * a2" in printed
    assert "ā = dy1/d a" in printed and "ā5 = ā6 ∂a6/∂a5 + ā7 ∂a7/∂a5" in printed


def test_explain_is_for_scalars():
    with pytest.raises(wg.GraphError, match="scalar functions of scalars"):
        wg.explain(lambda x: wg.stack([x, x]), 1.0, show=False)
