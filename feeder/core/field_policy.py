"""What of a session may leave the feeder: fields dropped or pseudonymised by JSON path (pure).

A path names object members from the record's top level, dot-separated (``customer.email``);
``*`` as a segment stands for every member of an object or every element of an array
(``metadata.*``). A path whose parent is not where it says (``customer`` is not an object) matches
nothing. A pseudonym is the lowercase hex HMAC-SHA-256 of the value under the configured key: of
its UTF-8 text for a string, of its compact JSON with sorted keys otherwise (so ``42`` and
``"42"`` share one); ``null`` stays ``null``. The same value under the same key always gives the
same pseudonym, so consumers can still join on it, and nobody without the key can compute one.

The fields the feed itself reads (:data:`REQUIRED_FIELDS`) can be neither dropped nor
pseudonymised: consumers get them as the events describe them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

import orjson

WILDCARD = "*"

REQUIRED_FIELDS = (
    "id",
    "sessionId",
    "storeId",
    "createdAt",
    "updatedAt",
    "expiresAt",
    "customerLastEnteredAt",
    "customerLastExitedAt",
    "codeLastSuccesfullyScannedAt",
    "suspectedFraud",
    "status",
)
"""Top-level fields the feed diffs, keys or routes by; a policy naming one is refused."""


class FieldAction(StrEnum):
    DROP = "drop"
    PSEUDONYMISE = "pseudonymise"


class FieldPolicyError(ValueError):
    """A policy that cannot be applied; ``action`` says which list of paths is at fault."""

    def __init__(self, message: str, action: FieldAction) -> None:
        super().__init__(message)
        self.action = action


# A node of the compiled path tree: an action for the value here, or the members to descend to.
_Node: TypeAlias = FieldAction | dict[str, "_Node"]


def _segments(path: str, action: FieldAction) -> tuple[str, ...]:
    segments = tuple(path.split("."))
    if not path or any(not segment.strip() or segment != segment.strip() for segment in segments):
        raise FieldPolicyError(
            f"{path!r} is not a field path: name members separated by dots, "
            "e.g. customer.email or metadata.*",
            action,
        )
    if segments == (WILDCARD,) or segments[0] in REQUIRED_FIELDS:
        what = "every field, with those" if segments == (WILDCARD,) else "a field"
        raise FieldPolicyError(
            f"{path!r} would {action.value} {what} the feed needs; these stay as received: "
            f"{', '.join(REQUIRED_FIELDS)}",
            action,
        )
    return segments


def _overlaps(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether one path covers (part of) what the other names."""
    return all(x == y or WILDCARD in (x, y) for x, y in zip(a, b, strict=False))


@dataclass(frozen=True, slots=True)
class FieldPolicy:
    """A compiled policy; :meth:`of` builds and validates one. The empty policy keeps everything."""

    _tree: Mapping[str, _Node]
    _key: bytes = field(repr=False)
    # Keyed once: copying a keyed HMAC costs half of keying a new one, per pseudonym.
    _keyed: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keyed", hmac.new(self._key, digestmod=hashlib.sha256))

    @classmethod
    def of(
        cls,
        *,
        drop: Iterable[str] = (),
        pseudonymise: Iterable[str] = (),
        key: bytes | None = None,
    ) -> FieldPolicy:
        """Raises :class:`FieldPolicyError` for a malformed path, one naming a required field,
        two paths that overlap, or pseudonymised paths without a key."""
        paths: list[tuple[tuple[str, ...], FieldAction]] = [
            (_segments(path, FieldAction.DROP), FieldAction.DROP) for path in drop
        ]
        paths += [
            (_segments(path, FieldAction.PSEUDONYMISE), FieldAction.PSEUDONYMISE)
            for path in pseudonymise
        ]
        for index, (segments, action) in enumerate(paths):
            for other, _ in paths[index + 1 :]:
                if _overlaps(segments, other):
                    raise FieldPolicyError(
                        f"{'.'.join(segments)!r} and {'.'.join(other)!r} overlap; name each "
                        "field once",
                        action,
                    )
        if not key and any(action is FieldAction.PSEUDONYMISE for _, action in paths):
            raise FieldPolicyError("pseudonymising needs a key", FieldAction.PSEUDONYMISE)
        return cls(_tree(paths), key or b"")

    @property
    def keeps_everything(self) -> bool:
        return not self._tree

    def apply(self, record: Mapping[str, object]) -> Mapping[str, object]:
        """``record`` with the policy applied; untouched containers are shared, not copied."""
        return self._members(self._tree, record) if self._tree else record

    def apply_to_raw(self, value: object) -> object:
        """:meth:`apply` for a record that failed validation and may not be a JSON object.

        No path can find fields in anything else, so a policy that is not empty withholds it
        (``None``) rather than let it through unchecked.
        """
        if isinstance(value, Mapping):
            return self.apply(value)
        return value if not self._tree else None

    def pseudonym(self, value: object) -> str | None:
        """The pseudonym of ``value`` under this policy's key (``None`` for ``None``)."""
        if value is None:
            return None
        message = (
            value.encode()
            if isinstance(value, str)
            else orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        )
        mac = self._keyed.copy()
        mac.update(message)
        return mac.hexdigest()

    def _members(
        self, node: Mapping[str, _Node], value: Mapping[str, object]
    ) -> Mapping[str, object]:
        wildcard = node.get(WILDCARD)
        names = list(value) if wildcard is not None else [name for name in node if name in value]
        if not names:
            return value
        result = dict(value)
        for name in names:
            # A wildcard and a named member can both hold branches (a.*.x, a.b.y): apply both.
            for child in (wildcard, None if name == WILDCARD else node.get(name)):
                if child is None or name not in result:
                    continue
                if child is FieldAction.DROP:
                    del result[name]
                elif child is FieldAction.PSEUDONYMISE:
                    result[name] = self.pseudonym(result[name])
                else:
                    result[name] = self._descend(child, result[name])
        return result

    def _descend(self, node: dict[str, _Node], value: object) -> object:
        if isinstance(value, Mapping):
            return self._members(node, value)
        elements = node.get(WILDCARD)
        if not isinstance(value, list) or elements is None:
            return value
        if elements is FieldAction.DROP:
            return []
        if elements is FieldAction.PSEUDONYMISE:
            return [self.pseudonym(element) for element in value]
        return [self._descend(elements, element) for element in value]


def _tree(paths: Iterable[tuple[tuple[str, ...], FieldAction]]) -> dict[str, _Node]:
    """The path tree; paths do not overlap, so no member is both a leaf and a branch."""
    tree: dict[str, _Node] = {}
    branches: dict[str, list[tuple[tuple[str, ...], FieldAction]]] = {}
    for segments, action in paths:
        if len(segments) == 1:
            tree[segments[0]] = action
        else:
            branches.setdefault(segments[0], []).append((segments[1:], action))
    tree.update((name, _tree(rest)) for name, rest in branches.items())
    return tree


KEEP_EVERYTHING = FieldPolicy.of()
