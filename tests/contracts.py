"""Check published records against their topic's contract (``streamer/schemas/``), for unit and integration
tests alike.

:class:`ContractChecker` validates a record's value with a real JSON Schema validator (``jsonschema``,
draft 2020-12) and its ``streamer.schema_version`` header; for ``dlq`` it validates the headers (the value
is the rejected message's own bytes). With ``strict`` it also fails on any field the schema does not
name, so a field the code adds without documenting it is caught too. :func:`declared_paths` and
:func:`emitted_paths` let a test show that every field a schema names is emitted somewhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import jsonschema
import orjson

from streamer.schemas.catalog import SCHEMA_FILE_BY_TOPIC, load_schema
from streamer.schemas.version import SCHEMA_MAJOR, SCHEMA_VERSION_HEADER

__all__ = ["ContractChecker", "declared_paths", "emitted_paths", "headers_object", "undeclared"]

OUTPUT_TOPICS = tuple(t for t in SCHEMA_FILE_BY_TOPIC if not t.startswith("raw."))


class Published(Protocol):
    """What aiokafka's ConsumerRecord and the processor's OutMessage have in common."""

    topic: str
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


def headers_object(headers: Iterable[tuple[str, bytes]]) -> dict[str, str | None]:
    """Kafka headers as the JSON object the DLQ header schema describes: name -> UTF-8 value (the last one
    when a name repeats); a value that is not UTF-8 is null."""
    out: dict[str, str | None] = {}
    for name, value in headers:
        try:
            out[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            out[name] = None
    return out


def _branch(instance: Any, schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``oneOf``/``anyOf`` branch ``instance`` matches, else ``schema`` itself."""
    for keyword in ("oneOf", "anyOf"):
        for branch in schema.get(keyword, ()):
            if jsonschema.Draft202012Validator(branch).is_valid(instance):
                return branch
    return schema


def _walk(instance: Any, schema: Mapping[str, Any], path: str, seen: set[str], extra: list[str]) -> None:
    schema = _branch(instance, schema)
    if isinstance(instance, dict):
        properties = schema.get("properties")
        if properties is None:
            return  # an open map (context, counts by reason): its keys are data
        for name, value in instance.items():
            if name in properties:
                seen.add(f"{path}.{name}")
                _walk(value, properties[name], f"{path}.{name}", seen, extra)
            else:
                extra.append(f"{path}.{name}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), Mapping):
        for item in instance:
            _walk(item, schema["items"], f"{path}[]", seen, extra)


def undeclared(instance: Any, schema: Mapping[str, Any]) -> list[str]:
    """Paths of fields in ``instance`` that ``schema`` does not name (open maps excepted)."""
    extra: list[str] = []
    _walk(instance, schema, "$", set(), extra)
    return extra


def emitted_paths(instance: Any, schema: Mapping[str, Any]) -> set[str]:
    """Paths of the declared fields ``instance`` has (``$.windows[].mean``)."""
    seen: set[str] = set()
    _walk(instance, schema, "$", seen, [])
    return seen


def declared_paths(schema: Mapping[str, Any], path: str = "$") -> set[str]:
    """Every field path ``schema`` names, through arrays and ``oneOf``/``anyOf`` branches."""
    out: set[str] = set()
    for keyword in ("oneOf", "anyOf"):
        for branch in schema.get(keyword, ()):
            out |= declared_paths(branch, path)
    for name, sub in schema.get("properties", {}).items():
        out.add(f"{path}.{name}")
        out |= declared_paths(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), Mapping):
        out |= declared_paths(schema["items"], f"{path}[]")
    return out


class ContractChecker:
    """Validates records of the output topics (named with ``prefix``) against the published schemas."""

    def __init__(self, prefix: str = "", *, strict: bool = True, passthrough: Iterable[str] = ()) -> None:
        """``passthrough``: fields of the raw input that the contract does not name (the NYISO converter's
        ``ptid``); they are kept in enriched records and late contributions, and strict mode allows them
        there."""
        self.prefix = prefix
        self.strict = strict
        self.passthrough = frozenset(passthrough)
        self.schemas = {topic: load_schema(topic) for topic in OUTPUT_TOPICS}
        self.validators = {
            topic: jsonschema.Draft202012Validator(schema) for topic, schema in self.schemas.items()
        }
        self.checked: Counter[str] = Counter()
        self.paths: dict[str, set[str]] = {topic: set() for topic in OUTPUT_TOPICS}

    def contract_topic(self, topic: str) -> str:
        assert topic.startswith(self.prefix), f"{topic} is not under prefix {self.prefix!r}"
        name = topic.removeprefix(self.prefix)
        assert name in self.schemas, f"{topic}: no published schema for {name!r}"
        return name

    def check(self, topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> None:
        """Fails (AssertionError) unless the record keeps its topic's contract."""
        name = self.contract_topic(topic)
        versions = [v for k, v in headers if k == SCHEMA_VERSION_HEADER]
        assert versions and versions[-1] == str(SCHEMA_MAJOR).encode(), (
            f"{topic}: header {SCHEMA_VERSION_HEADER} is {versions!r}, expected {SCHEMA_MAJOR}"
        )
        if name == "dlq":
            instance: Any = headers_object(headers)
        else:
            assert value is not None, f"{topic}: a null value"
            instance = orjson.loads(value)
        errors = sorted(self.validators[name].iter_errors(instance), key=lambda e: list(e.absolute_path))
        assert not errors, f"{topic}: {len(errors)} contract violations, first: {_explain(errors[0])}"
        if self.strict and name != "dlq":  # a DLQ record's original headers are anyone's
            extra = [
                path
                for path in undeclared(instance, self.schemas[name])
                if not (
                    path.rpartition(".")[0] in ("$", "$.record")
                    and path.rpartition(".")[2] in self.passthrough
                )
            ]
            assert not extra, f"{topic}: fields the schema does not name: {extra}"
        self.paths[name] |= emitted_paths(instance, self.schemas[name])
        self.checked[name] += 1

    def check_record(self, record: Published) -> None:
        self.check(record.topic, record.value, record.headers)

    def check_all(self, records: Iterable[Published]) -> Counter[str]:
        """Check every record; returns how many were checked per contract topic (all calls so far)."""
        for record in records:
            self.check_record(record)
        return self.checked


def _explain(error: jsonschema.ValidationError) -> str:
    where = "$" + "".join(f"[{p!r}]" for p in error.absolute_path)
    return f"{where}: {error.message}"
