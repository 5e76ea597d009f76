"""CEL conditions: compiled once, checked statically, evaluated against a per-decision context.

A condition sees four variables: `payload`, `agent` (slug, role, business_unit, level,
capabilities), `action` (name, data_classification, risk_tier) and `context` (whatever the
caller measured: hour, weekday, recent counts and totals).

Speed: converting nested Python dicts into CEL values costs far more than evaluating a
compiled program (bench/RESULTS.md). So field chains such as `payload.amount` are rewritten
at compile time into flat variables, and each decision converts only the leaves that its
candidate rules read. The rewrite is checked against the
original source: both compile, and a property test compares them with plain CEL evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cel

from governance.pdp.constant_parts import ConstantPartError, check_constant_parts
from governance.pdp.types import DecisionRequest, PolicyCompileError

__all__ = ["Condition", "ContextPlan", "compile_condition"]

ROOTS = ("payload", "agent", "action", "context")
AGENT_FIELDS = {
    "slug": "slug",
    "role": "role",
    "business_unit": "business_unit",
    "level": "autonomy_level",
    "capabilities": "capabilities",
}
ACTION_FIELDS = {name: name for name in ("name", "data_classification", "risk_tier")}
_FACT_FIELDS = {"agent": AGENT_FIELDS, "action": ACTION_FIELDS}

# Functions and operators the native CEL library evaluates; anything else fails at save time
# rather than at 3 a.m. as a runtime "undefined function" (which would deny every request).
KNOWN_FUNCTIONS = frozenset(
    {
        "_+_", "_-_", "_*_", "_/_", "_%_", "-_", "!_", "_==_", "_!=_", "_<_", "_<=_", "_>_",
        "_>=_", "_&&_", "_||_", "_?_:_", "@in", "_[_]", "@not_strictly_false",
        "size", "contains", "startsWith", "endsWith", "matches",
        "int", "uint", "double", "string", "bytes", "timestamp", "duration", "dyn", "type",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds", "getDayOfWeek",
        "getDayOfMonth", "getDayOfYear", "getDate", "getMonth", "getFullYear",
    }
)  # fmt: skip
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*)
  | (?P<str>[bB]?(?:'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
  | (?P<num>0[xX][0-9a-fA-F]+[uU]?|\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>\|\||&&|==|!=|<=|>=|.)
    """,
    re.VERBOSE,
)
_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")
_UNDEFINED = re.compile(r"Undefined variable or function: '(__\w+)'")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition and the request facts it reads.

    `leaves` are the field chains rewritten into flat variables; `root_keys` maps a root
    that is still read as a map to the keys it needs (None: the whole root)."""

    source: str
    program: Any  # cel.Program
    leaves: frozenset[tuple[str, ...]]
    root_keys: tuple[tuple[str, frozenset[str] | None], ...]

    def describe_error(self, exc: BaseException) -> str:
        """A runtime error in the words of the original source, not the rewritten one."""
        text = str(exc).split("\n", 1)[0]
        found = _UNDEFINED.search(text)
        if found:
            return f"no such field: {'.'.join(path_of(found.group(1)))}"
        if isinstance(exc, KeyError):
            return f"no such key: {text}"
        return f"{type(exc).__name__}: {text}"


def flat_name(path: tuple[str, ...]) -> str:
    """The variable a field chain is rewritten into; injective (every `_` becomes `_0`, so
    `__` only separates segments), and unreachable from user source because identifiers
    starting with `__` are refused."""
    return "__" + "__".join(segment.replace("_", "_0") for segment in path)


def path_of(name: str) -> tuple[str, ...]:
    """The field chain a flat variable stands for (the inverse of flat_name)."""
    return tuple(part.replace("_0", "_") for part in name[2:].split("__"))


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def _tokenize(source: str) -> list[_Token]:
    tokens = []
    for found in _TOKEN.finditer(source):
        kind = found.lastgroup or "punct"
        if kind != "ws":
            tokens.append(_Token(kind, found.group(), found.start(), found.end()))
    return tokens


def _fail(source: str, message: str, offset: int, rule_id: Any) -> PolicyCompileError:
    line, column = _position(source, offset)
    return PolicyCompileError(message, rule_id=rule_id, line=line, column=column)


def _parse(source: str, rule_id: Any) -> Any:
    try:
        return cel.compile(source)
    except (ValueError, TypeError, RuntimeError) as exc:
        text = str(exc)
        found = _POSITION.search(text)
        if found is None:
            raise PolicyCompileError(text.split("\n", 1)[0], rule_id=rule_id) from exc
        # Drop ANTLR's list of every token it would have accepted: noise in a form.
        message = re.sub(r"\s*expecting \{.*?\}", "", found.group(3)).strip()
        raise PolicyCompileError(
            message,
            rule_id=rule_id,
            line=int(found.group(1)),
            column=int(found.group(2)),
        ) from exc


def _bound_names(tokens: list[_Token], source: str, rule_id: Any) -> set[str]:
    """Names bound by comprehension macros (`x` in `items.all(x, ...)`); they may not
    shadow a root variable."""
    bound = set()
    for i in range(len(tokens) - 4):
        dot, macro, paren, name, comma = tokens[i : i + 5]
        if (
            dot.text == "."
            and macro.text in _MACROS
            and paren.text == "("
            and name.kind == "ident"
            and comma.text == ","
        ):
            if name.text in ROOTS:
                raise _fail(source, f"cannot rebind {name.text!r}", name.start, rule_id)
            bound.add(name.text)
    return bound


def _static_checks(program: Any, tokens: list[_Token], source: str, rule_id: Any) -> set[str]:
    """Refuse unknown variables, unknown functions and names reserved for the rewrite."""
    for token in tokens:
        if token.kind == "ident" and token.text.startswith("__"):
            raise _fail(
                source, f"names starting with __ are reserved: {token.text}", token.start, rule_id
            )
    bound = _bound_names(tokens, source, rule_id)
    for name in sorted(set(program.variables()) - bound - set(ROOTS)):
        offset = next(
            (
                t.start
                for i, t in enumerate(tokens)
                if t.text == name and (i == 0 or tokens[i - 1].text != ".")
            ),
            0,
        )
        raise _fail(
            source,
            f"unknown variable {name!r} (use payload, agent, action or context)",
            offset,
            rule_id,
        )
    for name in sorted(set(program.functions()) - KNOWN_FUNCTIONS):
        offset = next(
            (
                t.start
                for i, t in enumerate(tokens[:-1])
                if t.text == name and tokens[i + 1].text == "("
            ),
            0,
        )
        raise _fail(source, f"unknown function {name!r}", offset, rule_id)
    return bound


def _rewrite(
    tokens: list[_Token], source: str, rule_id: Any
) -> tuple[str, set[tuple[str, ...]], dict[str, set[str] | None]]:
    """Replace field chains on the roots by flat variables.

    Returns the rewritten source, the chains, and the roots still read as maps with the
    keys they need (None: the whole root, e.g. `size(payload)` or `payload['x']`)."""
    spans: list[tuple[int, int, str]] = []
    leaves: set[tuple[str, ...]] = set()
    roots: dict[str, set[str] | None] = {}
    n = len(tokens)
    for i, token in enumerate(tokens):
        if token.kind != "ident" or token.text not in ROOTS:
            continue
        if i > 0 and tokens[i - 1].text == ".":
            continue  # a field that happens to be called "payload"
        path = [token.text]
        j = i
        while (
            j + 2 < n
            and tokens[j + 1].text == "."
            and tokens[j + 2].kind == "ident"
            and not (j + 3 < n and tokens[j + 3].text == "(")
        ):
            path.append(tokens[j + 2].text)
            j += 2
        fields = _FACT_FIELDS.get(token.text)
        if fields is not None and len(path) > 1 and path[1] not in fields:
            raise _fail(
                source,
                f"{token.text} has no field {path[1]!r} (fields: {', '.join(fields)})",
                tokens[i + 2].start,
                rule_id,
            )
        tested = None
        if len(path) > 1 and i >= 2 and tokens[i - 1].text == "(" and tokens[i - 2].text == "has":
            # has() needs a map and a field: keep the last selection as it is.
            tested = path.pop()
            j -= 2
        if len(path) == 1:
            keys = roots.get(token.text, set())
            if keys is not None:
                roots[token.text] = None if tested is None else keys | {tested}
            continue
        chain = tuple(path)
        leaves.add(chain)
        spans.append((token.start, tokens[j].end, flat_name(chain)))
    out = []
    last = 0
    for start, end, name in spans:
        out.append(source[last:start])
        out.append(name)
        last = end
    out.append(source[last:])
    return "".join(out), leaves, roots


def compile_condition(
    source: str, rule_id: Any = None, *, strict: bool = False
) -> Condition | None:
    """Compile a CEL condition once; None for an empty one. Raises PolicyCompileError with
    the line and column of a syntax error, an unknown variable, field or function, or a
    constant condition that fails or is not a boolean; with `strict` (saving a rule), also
    a constant part that fails or is not a boolean where one is needed (constant_parts)."""
    if not source.strip():
        return None
    original = _parse(source, rule_id)
    tokens = _tokenize(source)
    bound = _static_checks(original, tokens, source, rule_id)
    if set(original.variables()) <= bound:
        try:
            value = original.execute(cel.Context())
        except Exception as exc:
            raise PolicyCompileError(
                str(exc).split("\n", 1)[0], rule_id=rule_id, line=1, column=1
            ) from exc
        if not isinstance(value, bool):
            raise PolicyCompileError(
                "a condition must be true or false", rule_id=rule_id, line=1, column=1
            )
    if strict:
        try:
            check_constant_parts(tokens, source)
        except ConstantPartError as exc:
            raise _fail(source, exc.message, exc.offset, rule_id) from exc
    if "\\" in source or "'''" in source or '"""' in source:
        # Escapes and triple quotes are legal but rare; skip the rewrite rather than risk
        # mis-reading a string literal. The whole roots are then converted per decision.
        whole: tuple[tuple[str, frozenset[str] | None], ...] = tuple((r, None) for r in ROOTS)
        return Condition(source, original, frozenset(), whole)
    rewritten, leaves, roots = _rewrite(tokens, source, rule_id)
    program = cel.compile(rewritten) if rewritten != source else original
    root_keys = tuple(
        sorted((root, None if keys is None else frozenset(keys)) for root, keys in roots.items())
    )
    return Condition(source, program, frozenset(leaves), root_keys)


_MISSING = object()


def _agent_map(request: DecisionRequest) -> dict[str, Any]:
    agent = request.agent
    return {key: getattr(agent, attr) for key, attr in AGENT_FIELDS.items()}


def _action_map(request: DecisionRequest) -> dict[str, Any]:
    action = request.action
    return {key: getattr(action, attr) for key, attr in ACTION_FIELDS.items()}


class ContextPlan:
    """Which request facts a group of conditions reads, and how to hand them to CEL once per
    decision."""

    __slots__ = ("_leaves", "_roots")

    def __init__(self, conditions: Iterable[Condition]) -> None:
        leaves: set[tuple[str, ...]] = set()
        roots: dict[str, set[str] | None] = {}
        for condition in conditions:
            leaves |= condition.leaves
            for root, keys in condition.root_keys:
                if keys is None or roots.get(root, set()) is None:
                    roots[root] = None
                else:
                    roots[root] = roots.get(root, set()) | keys  # type: ignore[operator]
        plan = []
        for path in sorted(leaves):
            root, first, rest = path[0], path[1], path[2:]
            attr = _FACT_FIELDS[root][first] if root in _FACT_FIELDS else first
            plan.append((flat_name(path), root, attr, rest))
        self._leaves = tuple(plan)
        self._roots = tuple(
            (root, None if keys is None else tuple(sorted(keys)))
            for root, keys in sorted(roots.items())
        )

    def variables(self, request: DecisionRequest) -> dict[str, Any]:
        """The CEL variables for one request; a missing field is left undefined, so reading
        it is an evaluation error (and the decision fails closed)."""
        out: dict[str, Any] = {}
        agent = request.agent
        action = request.action
        payload = request.payload
        context = request.context
        for name, root, first, rest in self._leaves:
            if root == "payload":
                value = payload.get(first, _MISSING)
            elif root == "context":
                value = context.get(first, _MISSING)
            elif root == "agent":
                value = getattr(agent, first)
            else:
                value = getattr(action, first)
            for key in rest:
                if value is _MISSING:
                    break
                value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
            if value is not _MISSING:
                out[name] = value
        for root, keys in self._roots:
            if root == "payload":
                whole = payload
            elif root == "context":
                whole = context
            elif root == "agent":
                whole = _agent_map(request)
            else:
                whole = _action_map(request)
            out[root] = whole if keys is None else {k: whole[k] for k in keys if k in whole}
        return out

    def context(self, request: DecisionRequest) -> Any:
        """A cel.Context holding the request's facts, built once per decision."""
        return cel.Context(self.variables(request))
