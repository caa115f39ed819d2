"""The OpenAPI document documents itself: descriptions and examples everywhere a reader looks."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sandkasten_py.api.app import OPERATIONS
from sandkasten_py.api.openapi import openapi_document
from sandkasten_py.schemas import (
    BaseResourceUsage, BuildResult, BuildRunResult, Environment, PublicConfig, RunResult,
)

DOCUMENT = openapi_document(OPERATIONS, "/")
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]
REF_PREFIX = "#/components/schemas/"

OPERATION_IDS = [
    f"{method.upper()} {path}"
    for path, methods in DOCUMENT["paths"].items() for method in methods
]


def _operation(name: str) -> dict[str, Any]:
    method, path = name.split(" ", 1)
    operation: dict[str, Any] = DOCUMENT["paths"][path][method.lower()]
    return operation


def _refs(node: Any) -> set[str]:
    """Names of the components a schema refers to, directly."""
    if isinstance(node, dict):
        found = {node["$ref"].removeprefix(REF_PREFIX)} if "$ref" in node else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*map(_refs, node)) if node else set()
    return set()


def _reachable(names: set[str]) -> set[str]:
    """The components `names` refer to, transitively, `names` included."""
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_refs(SCHEMAS[name]))
    return seen


def test_every_operation_is_listed() -> None:
    assert sorted(OPERATION_IDS) == sorted([
        "GET /config", "GET /environments", "GET /environments/{name}/resource_usage",
        "POST /run", "POST /programs", "POST /programs/{program_id}/run",
        "POST /programs/{program_id}/batch", "POST /batch", "POST /pipelines",
        "GET /programs/{program_id}/artifacts", "GET /programs/{program_id}/artifacts/{name}",
    ])


@pytest.mark.parametrize("name", OPERATION_IDS)
def test_operation_has_summary_description_and_examples(name: str) -> None:
    operation = _operation(name)
    assert operation["summary"].strip()
    assert operation["description"].strip()
    if "requestBody" in operation:
        assert "example" in operation["requestBody"]["content"]["application/json"]
    for status, response in operation["responses"].items():
        assert response["description"].strip(), status
        for media_type, content in response.get("content", {}).items():  # a 304 has none
            if media_type == "application/json":  # a downloaded file's bytes have no example
                assert "example" in content or content.get("examples"), (status, media_type)


@pytest.mark.parametrize("name", OPERATION_IDS)
def test_examples_are_valid(name: str) -> None:
    """The request example decodes as the request type; the success example as the response type."""
    by_id = {f"{op.method} {op.path.replace(':path}', '}')}": op for op in OPERATIONS}
    operation = by_id[name]
    if operation.request is not None:
        msgspec.convert(operation.request_example, operation.request)
    if operation.response_media_type == "application/json":
        msgspec.convert(operation.response_example, operation.response)


def test_response_examples_use_the_wire_types() -> None:
    # A sanity check that the examples are not all of one type by mistake.
    by_response = {op.response: op.response_example for op in OPERATIONS}
    for response_type in (PublicConfig, dict[str, Environment], BaseResourceUsage, BuildRunResult,
                          BuildResult, RunResult):
        assert by_response[response_type] is not None


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_has_a_description(name: str) -> None:
    assert SCHEMAS[name].get("description", "").strip()


REQUEST_SCHEMAS = sorted(_reachable({
    ref
    for path in DOCUMENT["paths"].values() for operation in path.values()
    if "requestBody" in operation
    for ref in _refs(operation["requestBody"]["content"]["application/json"]["schema"])
}))


def test_request_schemas_are_found() -> None:
    assert {"BuildRunRequest", "BuildRequest", "RunRequest", "MainFile", "File", "EnvVar",
            "LimitsOpt"} <= set(REQUEST_SCHEMAS)


@pytest.mark.parametrize("name", REQUEST_SCHEMAS)
def test_every_request_field_has_a_description_or_example(name: str) -> None:
    undocumented = [
        field for field, schema in SCHEMAS[name].get("properties", {}).items()
        if not (schema.get("description") or "example" in schema)
    ]
    assert undocumented == []


def test_no_ref_has_siblings() -> None:
    """OpenAPI 3.0 ignores everything beside a `$ref`, so descriptions must not sit there."""
    def walk(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            here = [node] if "$ref" in node and len(node) > 1 else []
            return here + [bad for value in node.values() for bad in walk(value)]
        if isinstance(node, list):
            return [bad for value in node for bad in walk(value)]
        return []
    assert walk(SCHEMAS) == []
