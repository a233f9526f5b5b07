"""Xero's ``where`` filter: a small expression language evaluated against the wire JSON.

Supported: ``Field == "text"``, ``Field != ...``, ``<``, ``<=``, ``>``, ``>=``; values that are
strings, numbers, ``true``/``false``/``null``, ``Guid("...")`` and ``DateTime(2024,1,31)``; dotted
fields (``Contact.ContactID``); ``AND``/``&&``, ``OR``/``||``, ``NOT``/``!`` and parentheses; and the
methods ``.Contains("x")``, ``.StartsWith("x")``, ``.EndsWith("x")``, ``.ToLower()``/``.ToUpper()``.
String comparisons ignore case, as Xero's do. Anything else raises :class:`WhereError` (the API
answers 400) instead of being silently ignored.
"""
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

from .wire import MS_DATE_RE, parse_datetime


class WhereError(ValueError):
    pass


TOKEN_RE = re.compile(
    r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*")
    |(?P<number>-?\d+(?:\.\d+)?)
    |(?P<op>==|!=|<=|>=|&&|\|\||<|>|!|\(|\)|,|\.)
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


@dataclass
class Token:
    kind: str
    text: str


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise WhereError(f"cannot parse where clause at: {text[pos:]!r}")
        kind = match.lastgroup
        tokens.append(Token(kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}
STRING_METHODS = {"contains", "startswith", "endswith"}
CASE_METHODS = {"tolower", "toupper"}


class Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self, offset=0) -> Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise WhereError("where clause ended unexpectedly")
        self.pos += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise WhereError(f"expected {text!r} but found {token.text!r}")

    def at_keyword(self, *words) -> bool:
        token = self.peek()
        return token is not None and token.text.upper() in words

    def parse(self):
        node = self.parse_or()
        if self.peek() is not None:
            raise WhereError(f"unexpected {self.peek().text!r} in where clause")
        return node

    def parse_or(self):
        node = self.parse_and()
        while self.at_keyword("OR", "||"):
            self.take()
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_not()
        while self.at_keyword("AND", "&&"):
            self.take()
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self):
        if self.at_keyword("NOT", "!"):
            self.take()
            return ("not", self.parse_not())
        return self.parse_primary()

    def parse_primary(self):
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            node = self.parse_or()
            self.expect(")")
            return node
        left = self.parse_operand()
        following = self.peek()
        if following is not None and following.text in COMPARISONS:
            op = self.take().text
            return ("cmp", op, left, self.parse_operand())
        if left[0] == "method" and left[1] in STRING_METHODS:
            return left
        if left[0] == "literal" and isinstance(left[1], bool):
            return left
        raise WhereError("expected a comparison in where clause")

    def parse_operand(self):
        token = self.take()
        if token.kind == "string":
            return ("literal", _unquote(token.text))
        if token.kind == "number":
            return ("literal", Decimal(token.text))
        if token.kind != "name":
            raise WhereError(f"unexpected {token.text!r} in where clause")
        word = token.text
        lowered = word.lower()
        if lowered in ("true", "false"):
            return ("literal", lowered == "true")
        if lowered == "null":
            return ("literal", None)
        if lowered == "guid" and self.peek() and self.peek().text == "(":
            return ("literal", self.parse_call_args(1)[0].lower())
        if lowered == "datetime" and self.peek() and self.peek().text == "(":
            return ("literal", _datetime_literal(self.parse_call_args(None)))
        return self.parse_field(word)

    def parse_call_args(self, count):
        self.expect("(")
        args = []
        while True:
            token = self.take()
            if token.kind == "string":
                args.append(_unquote(token.text))
            elif token.kind == "number":
                args.append(token.text)
            else:
                raise WhereError(f"unexpected {token.text!r} in function call")
            closing = self.take()
            if closing.text == ")":
                break
            if closing.text != ",":
                raise WhereError(f"expected ',' or ')' but found {closing.text!r}")
        if count is not None and len(args) != count:
            raise WhereError("wrong number of arguments")
        return args

    def parse_field(self, first: str):
        path = [first]
        while self.peek() is not None and self.peek().text == ".":
            self.take()
            name = self.take()
            if name.kind != "name":
                raise WhereError(f"unexpected {name.text!r} after '.'")
            following = self.peek()
            if following is not None and following.text == "(":
                return self.parse_method(("field", tuple(path)), name.text.lower())
            path.append(name.text)
        return ("field", tuple(path))

    def parse_method(self, target, method):
        if method in CASE_METHODS:
            self.expect("(")
            self.expect(")")
            return ("case", target)
        if method in STRING_METHODS:
            (arg,) = self.parse_call_args(1)
            return ("method", method, target, arg)
        raise WhereError(f"unsupported method {method!r} in where clause")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _datetime_literal(args) -> datetime:
    if len(args) == 1:
        return parse_datetime(args[0])
    try:
        parts = [int(a) for a in args]
        return datetime(*parts, tzinfo=timezone.utc)
    except (TypeError, ValueError):
        raise WhereError("bad DateTime(...) literal") from None


def compile_where(text: str):
    """Parse ``text`` once; return a predicate over a wire-format record (dict)."""
    tree = Parser(text).parse()
    return lambda record: bool(_eval(tree, record))


def _lookup(record, path):
    value = record
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
        if value is None:
            return None
    return value


def _value(node, record):
    kind = node[0]
    if kind == "literal":
        return node[1]
    if kind == "field":
        return _lookup(record, node[1])
    if kind == "case":
        return _value(node[1], record)
    raise WhereError("unsupported expression in where clause")


def _normalise(left, right):
    """Bring two operands to comparable types (dates, numbers, case-folded strings)."""
    if isinstance(right, datetime) and isinstance(left, str) or isinstance(left, datetime) and isinstance(right, str):
        left, right = _as_datetime(left), _as_datetime(right)
    elif isinstance(left, (int, float, Decimal)) and not isinstance(left, bool) and isinstance(right, Decimal):
        left = Decimal(str(left))
    elif isinstance(right, (int, float)) and not isinstance(right, bool) and isinstance(left, Decimal):
        right = Decimal(str(right))
    if isinstance(left, str) and isinstance(right, str):
        left, right = left.casefold(), right.casefold()
    return left, right


def _as_datetime(value):
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, datetime.min.time(), tzinfo=timezone.utc)
    try:
        return parse_datetime(value) if MS_DATE_RE.match(value) or value[:4].isdigit() else value
    except ValueError:
        return value


def _compare(op, left, right):
    left, right = _normalise(left, right)
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if left is None or right is None or type(left) is not type(right):
        return False
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _eval(node, record):
    kind = node[0]
    if kind == "or":
        return _eval(node[1], record) or _eval(node[2], record)
    if kind == "and":
        return _eval(node[1], record) and _eval(node[2], record)
    if kind == "not":
        return not _eval(node[1], record)
    if kind == "cmp":
        return _compare(node[1], _value(node[2], record), _value(node[3], record))
    if kind == "method":
        target = _value(node[2], record)
        if not isinstance(target, str):
            return False
        target, arg = target.casefold(), node[3].casefold()
        checks = {"contains": arg in target, "startswith": target.startswith(arg), "endswith": target.endswith(arg)}
        return checks[node[1]]
    if kind == "literal":
        return node[1]
    raise WhereError("unsupported expression in where clause")
