"""``wg.explain(f, *args)``: the lectures' tables for a scalar function of scalars.

The evaluation trace names every value a1 ... an (inputs first) with the op that made it;
the reverse-mode table gives each adjoint ā_i = d(output)/d(a_i), written as the lectures
write it, the sum over the values a_i feeds of ā_consumer times the local partial:

    a4 = a3 * a2                       = 3
    a5 = a4 + a1                       = 3.5
    ...
    ā5 = ā6 ∂a6/∂a5 + ā7 ∂a7/∂a5      = 0.351

The values come from tracing ``f`` into a Wengert list and running it with the engine; the
adjoints are the gradients that backward hands each value (hooks read them), so the tables
show what wengert computes, not a second computation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .core.grad_mode import enable_grad
from .core.tensor import Tensor
from .graph import Graph, GraphError

_INFIX = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "power": "**"}


@dataclass
class Explanation:
    """The tables: ``names`` (a1...), their ``expressions``, ``values`` and ``adjoints``, by name."""

    names: list[str]
    expressions: dict[str, str]
    values: dict[str, float]
    adjoints: dict[str, float]
    terms: dict[str, str]
    output: str

    def __str__(self) -> str:
        width = max(len(f"{name} = {self.expressions[name]}") for name in self.names)
        lines = ["evaluation"]
        lines += [f"  {f'{name} = {self.expressions[name]}':<{width}}  = {self.values[name]:.6g}"
                  for name in self.names]
        bars = {name: f"ā{name[1:]}" for name in self.names}
        width = max(len(f"{bars[name]} = {self.terms[name]}") for name in self.names)
        lines.append(f"adjoints (reverse mode), ā = d{self.output}/d a")
        lines += [f"  {f'{bars[name]} = {self.terms[name]}':<{width}}  = {self.adjoints[name]:.6g}"
                  for name in reversed(self.names)]
        return "\n".join(lines)


def explain(f: Callable[..., Any], *args: float, output: int = 0, show: bool = True) -> Explanation:
    """Print (unless ``show=False``) and return the evaluation and adjoint tables of ``f`` at
    ``args`` (numbers). ``f`` returns a scalar or a tuple of them; ``output`` picks the one whose
    adjoints are shown (the others' ā start at 0, as the lectures do)."""
    parameters = list(inspect.signature(f).parameters)
    input_names = parameters[:len(args)] if len(parameters) >= len(args) else [f"x{i}" for i in range(1, len(args) + 1)]
    graph = Graph.trace(f, *[float(value) for value in args], names=input_names)
    if any(step.shape not in ((), None) for step in graph.assignments):
        raise GraphError("explain: the tables are for scalar functions of scalars; an op here makes shape "
                         + str(next(step.shape for step in graph.assignments if step.shape not in ((), None))))
    alias = {name: f"a{number}" for number, name in enumerate([*graph.inputs, *(s.name for s in graph.assignments)], 1)}
    expressions = {alias[name]: name for name in graph.inputs}
    consumers: dict[str, list[str]] = {alias[name]: [] for name in alias}
    for step in graph.assignments:
        arguments = [alias[a] if isinstance(a, str) else str(a) for a in step.arguments]
        expressions[alias[step.name]] = _expression(step.op, arguments, step.constants)
        for argument in dict.fromkeys(a for a in step.arguments if isinstance(a, str)):
            consumers[alias[argument]].append(alias[step.name])
    labels = [alias[name] for name in graph.outputs]
    for number, label in enumerate(labels):
        expressions[label] += f"  (y{number + 1})" if len(labels) > 1 else "  (y)"
    values, adjoints = _run(graph, alias, output)
    terms = {name: " + ".join(f"ā{consumer[1:]} ∂{consumer}/∂{name}" for consumer in consumers[name])
             or ("1" if name == labels[output] else "0") for name in consumers}
    explanation = Explanation(list(alias.values()), expressions, values, adjoints, terms,
                              f"y{output + 1}" if len(labels) > 1 else "y")
    if show:
        print(explanation)
    return explanation


def _run(graph: Graph, alias: dict[str, str], output: int) -> tuple[dict, dict]:
    """Each value, and the gradient that backward hands it (0 where none flows)."""
    seen: dict[str, float] = {}
    with enable_grad():
        values = graph.evaluate({name: Tensor(graph.examples[name], True) for name in graph.inputs})
        for name, tensor in values.items():
            if isinstance(tensor, Tensor) and tensor.requires_grad:
                tensor.register_hook(lambda gradient, name=name: seen.__setitem__(name, float(gradient.data)))
        values[graph.outputs[output]].backward()
    return ({alias[name]: float(values[name].data) for name in alias},
            {alias[name]: seen.get(name, 0.0) for name in alias})


def _expression(op: str, arguments: list[str], constants: dict) -> str:
    if op in _INFIX and len(arguments) == 2:
        return f"{arguments[0]} {_INFIX[op]} {arguments[1]}"
    if op == "negative":
        return f"-{arguments[0]}"
    extra = [f"{key}={value!r}" for key, value in constants.items()]
    return f"{op}({', '.join(arguments + extra)})"
