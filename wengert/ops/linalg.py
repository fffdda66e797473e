"""Matrix products: ``matmul`` in all of numpy's cases, and ``einsum``.

The seeds' swap rule: for y[b, i] = x[b, j] W[j, i], each input's gradient is the
product of the upstream gradient with the *other* input, summing over the indices
the input lacks: x.grad = y.grad W^T, W.grad = x^T y.grad.
"""

from __future__ import annotations

import string
from collections import Counter
from typing import Any

from ..core.backend import matmul, namespace
from ..core.dtypes import promote
from ..core.function import Function


class Matmul(Function):
    """numpy's matmul: 1-D operands are vectors, N-D ones stacks of matrices that broadcast."""

    broadcasting = True  # stacked (batch) axes broadcast; the engine sums their gradients
    writes_into = True  # forward takes out=: a compiled program reuses a buffer of its last call

    def forward(ctx, a, b, out=None):
        ctx.save(a, b)  # the inputs themselves: create_graph links them to their tensors
        try:
            return matmul(*promote((a, b)), out=out)
        except ValueError as error:  # numpy speaks of gufunc signatures: say which dimensions disagree
            raise ValueError(_matmul_mismatch(a, b) or str(error)) from None

    def backward(ctx, upstream):
        a, b = ctx.saved
        need_a, need_b = ctx.parents[0] is not None, ctx.parents[1] is not None
        xp = namespace(upstream)
        if a.ndim == 1 and b.ndim == 1:  # inner product: y = a . b
            return upstream * b if need_a else None, upstream * a if need_b else None
        # Treat a vector as a one-row (a) or one-column (b) matrix, then drop that axis again.
        matrix_a = xp.reshape(a, (1, -1)) if a.ndim == 1 else a
        matrix_b = xp.reshape(b, (-1, 1)) if b.ndim == 1 else b
        g = xp.expand_dims(upstream, -2) if a.ndim == 1 else upstream
        g = xp.expand_dims(g, -1) if b.ndim == 1 else g
        grad_a = grad_b = None
        if need_a:
            grad_a = xp.matmul(g, matrix_b.mT)
            grad_a = grad_a[..., 0, :] if a.ndim == 1 else grad_a
        if need_b:
            grad_b = xp.matmul(matrix_a.mT, g)
            grad_b = grad_b[..., 0] if b.ndim == 1 else grad_b
        return grad_a, grad_b

    def jvp(primals, tangents, result, out=None):
        """d(a @ b) = da @ b + a @ db."""
        (a, b), (ta, tb) = primals, tangents
        terms = [Matmul.apply(ta, b) if ta is not None else None, Matmul.apply(a, tb) if tb is not None else None]
        return _sum_of_terms(terms, result)


class Einsum(Function):
    """numpy's einsum (implicit and explicit output, ellipsis). Each operand's VJP is another
    einsum: the upstream gradient contracted with the other operands (the swap rule)."""

    broadcasting = True

    def forward(ctx, *operands, subscripts):
        xp = namespace(*operands)
        shapes = [tuple(xp.shape(operand)) for operand in operands]
        inputs, output = _explicit(subscripts, shapes)
        try:
            y = xp.einsum(",".join(inputs) + "->" + output, *promote(operands))
        except ValueError as error:
            raise ValueError(f"einsum: '{subscripts}' on operands of shapes {', '.join(map(str, shapes))}: "
                             f"{_einsum_mismatch(inputs, output, shapes) or error}") from None
        for index, letters in enumerate(inputs):
            if len(set(letters)) != len(letters) and ctx.needs_input_grad[index:index + 1] == (True,):
                raise ValueError(f"einsum: operand {index} repeats an index ('{letters}', a trace or "
                                 "diagonal); einsum has no gradient for that")
        ctx.save(*operands, inputs, output)
        return y

    def backward(ctx, upstream):
        *operands, inputs, output = ctx.saved
        xp = namespace(upstream)
        grads = []
        for index, (parent, letters) in enumerate(zip(ctx.parents, inputs)):
            if parent is None:
                grads.append(None)
                continue
            others = inputs[:index] + inputs[index + 1:]
            available = set(output).union(*others)
            kept = "".join(letter for letter in letters if letter in available)
            grad = xp.einsum(",".join([output, *others]) + "->" + kept,
                             upstream, *operands[:index], *operands[index + 1:])
            shape = operands[index].shape
            # A size-1 axis that broadcast against a longer one of the same letter sums its gradient;
            # letters found in this operand alone (or only size 1 elsewhere) spread it back out.
            summed = tuple(axis for axis, letter in enumerate(kept)
                           if shape[letters.index(letter)] == 1 and grad.shape[axis] != 1)
            grad = xp.sum(grad, axis=summed, keepdims=True) if summed else grad
            if grad.shape != shape:
                sizes = [grad.shape[kept.index(letter)] if letter in kept else 1 for letter in letters]
                grad = xp.broadcast_to(xp.reshape(grad, sizes), shape)
            grads.append(grad)
        return tuple(grads)

    def jvp(primals, tangents, result, subscripts):
        """Multilinear: one einsum per operand that has a tangent, that operand replaced by its tangent."""
        terms = [Einsum.apply(*primals[:index], tangent, *primals[index + 1:], subscripts=subscripts)
                 for index, tangent in enumerate(tangents) if tangent is not None]
        return _sum_of_terms(terms, result)


def _sum_of_terms(terms: list, result: Any) -> Any:
    """The sum of the terms that are not None, in the result's dtype (None if all are None)."""
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    if total is not None and total.dtype != result.dtype:  # a float32 tangent of a float64 product
        total = total.astype(result.dtype)
    return total


def _explicit(subscripts: str, shapes: list) -> tuple[list[str], str]:
    """``subscripts`` as one letter string per operand and an output string, ``...`` spelled out."""
    subscripts = subscripts.replace(" ", "")
    inputs_part, arrow, output = subscripts.partition("->")
    inputs = inputs_part.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: '{subscripts}' names {len(inputs)} operands, got {len(shapes)}")
    free = [letter for letter in string.ascii_letters if letter not in subscripts]
    ellipsis_ndim = max([len(shape) - len(letters) + 3 for letters, shape in zip(inputs, shapes)
                         if "..." in letters], default=0)
    broadcast_letters = "".join(free[:ellipsis_ndim])
    spelled = []
    for letters, shape in zip(inputs, shapes):
        if "..." in letters:
            count = len(shape) - len(letters) + 3
            letters = letters.replace("...", broadcast_letters[ellipsis_ndim - count:])
        spelled.append(letters)
    if not arrow:  # implicit output: ellipsis axes, then the letters used once, sorted
        counts = Counter(inputs_part.replace("...", "").replace(",", ""))
        output = broadcast_letters + "".join(sorted(letter for letter, n in counts.items() if n == 1))
    else:
        output = output.replace("...", broadcast_letters)
    return spelled, output


def _matmul_mismatch(a: Any, b: Any) -> str | None:
    """Why ``a @ b`` fails, in the user's terms (``None`` if the shapes are not the problem)."""
    a_shape, b_shape = tuple(getattr(a, "shape", ())), tuple(getattr(b, "shape", ()))
    product = f"matmul: {a_shape} @ {b_shape}"
    if not a_shape or not b_shape:
        return f"{product}: both operands need at least one dimension (use * to multiply by a scalar)"
    inner_b = b_shape[-2] if len(b_shape) > 1 else b_shape[0]
    if a_shape[-1] != inner_b:
        return f"{product}: inner dimensions {a_shape[-1]} and {inner_b} differ"
    batch_a, batch_b = a_shape[:-2], b_shape[:-2]
    for n, m in zip(reversed(batch_a), reversed(batch_b)):
        if n != m and n != 1 and m != 1:
            return f"{product}: batch dimensions {batch_a} and {batch_b} do not broadcast"
    return None


def _einsum_mismatch(inputs: list[str], output: str, shapes: list) -> str | None:
    """Why an einsum fails, in terms of its letters (``None`` if that is not the problem)."""
    sizes: dict[str, tuple[int, int]] = {}  # letter -> (size other than 1, the operand it came from)
    for index, (letters, shape) in enumerate(zip(inputs, shapes)):
        if len(letters) != len(shape):
            return f"operand {index} has {len(shape)} dimensions but its subscripts '{letters}' name {len(letters)}"
        for letter, size in zip(letters, shape):
            seen = sizes.get(letter)
            if seen is not None and size not in (1, seen[0]):
                return f"index {letter} has size {seen[0]} in operand {seen[1]} and {size} in operand {index}"
            if size != 1 and seen is None:
                sizes[letter] = (size, index)
    missing = [letter for letter in output if not any(letter in letters for letters in inputs)]
    if missing:
        return f"output index {missing[0]} appears in no operand"
    return None
