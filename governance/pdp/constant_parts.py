"""Constant parts of a CEL condition: found by a small parser, evaluated once at compile time.

The native CEL library compiles without type-checking and exposes no syntax tree, so an
error in a part that reads no variable (`2000 > "x"`, `1 / 0`, `"x" && true`) would only
show when a request is decided, and then deny it. This module parses the condition's tokens
into a tree (CEL's precedence: ternary, ||, &&, relations, + -, * / %, unary, member),
evaluates every largest sub-expression that reads no variable, and refuses one that fails or
that is not a boolean where one is needed (an operand of &&, ||, ! or a ternary's test).

Only what CEL can see without the request is judged: a part that reads `payload`, `agent`,
`action`, `context` or a comprehension's variable is left to the decision. A construct this
parser does not know (message literals, `.?` optional fields) skips the check for the whole
condition rather than guess; the library's own parse has already accepted it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cel

__all__ = ["ConstantPartError", "check_constant_parts"]

_LITERALS = frozenset({"true", "false", "null"})
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter", "has"})
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"||"}),
    frozenset({"&&"}),
    frozenset({"<", "<=", ">", ">=", "==", "!=", "in"}),
    frozenset({"+", "-"}),
    frozenset({"*", "/", "%"}),
)
# Operators whose operands must be booleans, by the operand positions that must be.
_BOOLEAN_OPERANDS = {"||": (0, 1), "&&": (0, 1), "!": (0,), "?:": (0,)}


class _Token(Protocol):
    kind: str
    text: str
    start: int
    end: int


class ConstantPartError(Exception):
    """A constant part of the condition fails or has the wrong type; `offset` is where it
    starts in the source."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class _Unsupported(Exception):
    """A construct this parser does not know: the check is skipped."""


@dataclass(frozen=True, slots=True)
class _Node:
    op: str
    start: int
    end: int
    children: tuple[_Node, ...] = ()
    constant: bool = True


class _Parser:
    def __init__(self, tokens: Sequence[_Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i].text if self.i < len(self.tokens) else None

    def advance(self) -> _Token:
        if self.i >= len(self.tokens):
            raise _Unsupported
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> _Token:
        token = self.advance()
        if token.text != text:
            raise _Unsupported
        return token

    def parse(self) -> _Node:
        node = self.expression()
        if self.i != len(self.tokens):
            raise _Unsupported
        return node

    def expression(self) -> _Node:
        test = self.binary(0)
        if self.peek() != "?":
            return test
        self.advance()
        then = self.expression()
        self.expect(":")
        otherwise = self.expression()
        return _node("?:", test.start, otherwise.end, (test, then, otherwise))

    def binary(self, level: int) -> _Node:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in _LEVELS[level]:
            op = self.advance().text
            right = self.binary(level + 1)
            left = _node(op, left.start, right.end, (left, right))
        return left

    def unary(self) -> _Node:
        if self.peek() in ("!", "-"):
            token = self.advance()
            operand = self.unary()
            return _node(token.text, token.start, operand.end, (operand,))
        return self.postfix(self.primary())

    def postfix(self, node: _Node) -> _Node:
        while self.peek() in (".", "["):
            if self.advance().text == "[":
                index = self.expression()
                end = self.expect("]").end
                node = _node("[]", node.start, end, (node, index))
                continue
            name = self.advance()
            if name.kind != "ident":
                raise _Unsupported
            if self.peek() == "(":
                args, end = self.items(")")
                node = _call(name.text, node.start, end, (node, *args))
            else:
                node = _node(".", node.start, name.end, (node,))
        return node

    def items(self, close: str, pairs: bool = False) -> tuple[list[_Node], int]:
        """Comma-separated expressions (or key: value pairs) up to `close`, which may
        follow a trailing comma; the opening bracket is the next token."""
        self.advance()
        found: list[_Node] = []
        while self.peek() != close:
            found.append(self.expression())
            if pairs:
                self.expect(":")
                found.append(self.expression())
            if self.peek() != ",":
                break
            self.advance()
        return found, self.expect(close).end

    def primary(self) -> _Node:
        token = self.advance()
        if token.kind in ("str", "num") or token.text in _LITERALS:
            return _Node("literal", token.start, token.end)
        if token.kind == "ident":
            if self.peek() == "(":
                args, end = self.items(")")
                return _call(token.text, token.start, end, tuple(args))
            return _Node("name", token.start, token.end, constant=False)
        if token.text == "(":
            inner = self.expression()
            return _node("()", token.start, self.expect(")").end, (inner,))
        if token.text in ("[", "{"):
            self.i -= 1
            close = "]" if token.text == "[" else "}"
            found, end = self.items(close, pairs=token.text == "{")
            return _node(token.text + close, token.start, end, tuple(found))
        raise _Unsupported


def _node(op: str, start: int, end: int, children: tuple[_Node, ...]) -> _Node:
    return _Node(op, start, end, children, all(child.constant for child in children))


def _call(name: str, start: int, end: int, children: tuple[_Node, ...]) -> _Node:
    # A macro binds a variable (or, for has(), needs a field selection): never constant.
    constant = name not in _MACROS and all(child.constant for child in children)
    return _Node("call", start, end, children, constant)


def _evaluate(source: str) -> Any:
    return cel.compile(source).execute(cel.Context())


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0]
    return text.split(": the operation", 1)[0] if text.startswith("No such overload") else text


def _check(node: _Node, source: str, boolean: bool, evaluate: Callable[[str], Any]) -> None:
    if node.constant:
        part = source[node.start : node.end]
        try:
            value = evaluate(part)
        except Exception as exc:
            raise ConstantPartError(
                f"{part} always fails: {_first_sentence(exc)}", node.start
            ) from exc
        if boolean and not isinstance(value, bool):
            raise ConstantPartError(f"{part} is not true or false", node.start)
        return
    operands = _BOOLEAN_OPERANDS.get(node.op, ())
    for position, child in enumerate(node.children):
        _check(child, source, position in operands, evaluate)


def check_constant_parts(
    tokens: Sequence[_Token], source: str, evaluate: Callable[[str], Any] = _evaluate
) -> None:
    """Raise ConstantPartError for the first constant part of `source` (tokenized as
    `tokens`, without whitespace and comments) that fails to evaluate, or that is not a
    boolean where && / || / ! or a ternary's test needs one."""
    try:
        tree = _Parser(tokens).parse()
    except _Unsupported:
        return
    _check(tree, source, True, evaluate)
