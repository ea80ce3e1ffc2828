"""What FastAPI's generated OpenAPI cannot know, added after it (:func:`complete`): the keyed
routes' 401, no 422 where validation cannot fail, the DeepStack form, short schema names, and
pictures typed as binary.

Clients are generated from this description (``openapi-python-client``, Swagger's "Try it
out"), so each addition is what a generated client needs to make a typed call.
"""

from __future__ import annotations

from typing import Any


def document_keyed_routes(schema: dict[str, Any]) -> None:
    """Complete FastAPI's schema where it cannot know our middleware: every operation that
    carries a security requirement answers 401 without the key, and an operation with no body
    and only plain string path parameters cannot fail validation, so FastAPI's automatic 422
    (``DELETE /faces/{subject}``) is a promise of an answer that never comes."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                responses.setdefault("401", _problem("Missing or wrong API key"))
            if _cannot_fail_validation(operation):
                responses.pop("422", None)


def _cannot_fail_validation(operation: dict[str, Any]) -> bool:
    parameters = operation.get("parameters", [])
    return "requestBody" not in operation and all(
        p.get("in") == "path" and p.get("schema", {}).get("type") == "string" for p in parameters
    )


def _problem(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {"application/problem+json": {"schema": schema}}}


_NATIVE_MODULES = frozenset({"schemas", "face_schemas"})


def tidy_schema_names(schema: dict[str, Any]) -> None:
    """Short component names where route families reuse a model name (``Box``, ``Detection
    Answer``): FastAPI then names them by module path (``service__api__schemas__Box``), which
    client generators stumble over (and two schemas titled ``Box`` clash). Our own (``service.api.schemas``, ``face_schemas``) keep
    the plain name; another family's get its package as a prefix (``ComprefaceBox``)."""
    schemas: dict[str, Any] = schema.get("components", {}).get("schemas", {})
    renamed: dict[str, str] = {}
    for name in [n for n in schemas if "__" in n]:
        *modules, short = name.split("__")
        family = modules[2] if len(modules) > 2 else modules[-1]
        tidy = short if family in _NATIVE_MODULES else family.title().replace("_", "") + short
        if tidy not in schemas and tidy not in renamed.values():
            renamed[name] = tidy
    for old, new in renamed.items():
        schemas[new] = schemas.pop(old)
        schemas[new]["title"] = new  # generators name classes by title: two "Box" clash
    if renamed:
        _rewrite_refs(
            schema,
            {f"#/components/schemas/{o}": f"#/components/schemas/{n}" for o, n in renamed.items()},
        )


def _rewrite_refs(node: Any, refs: dict[str, str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in refs:
            node["$ref"] = refs[ref]
        for value in node.values():
            _rewrite_refs(value, refs)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, refs)


DEEPSTACK_FORM: dict[str, Any] = {
    "type": "object",
    "title": "DeepStackForm",
    "description": "DeepStack's form: file parts (``image``; ``image1``... on face/register) "
    "and text fields (``min_confidence``, ``userid``, ``api_key``, ...); fields a route does "
    "not use are ignored.",
    "properties": {
        "image": {"type": "string", "format": "binary"},
        "min_confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "userid": {"type": "string"},
        "api_key": {"type": "string"},
    },
    "additionalProperties": True,
}


def document_deepstack_forms(schema: dict[str, Any], prefix: str = "/v1/vision/") -> None:
    """DeepStack's routes read their form themselves (any field, any order), so FastAPI sees
    no body; declare the form, so Swagger offers a file picker and generated clients can send
    an image."""
    form = {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/DeepStackForm"}}}
    used = False
    for path, operations in schema.get("paths", {}).items():
        post = operations.get("post")
        if path.startswith(prefix) and post is not None and "requestBody" not in post:
            post["requestBody"] = {"required": False, "content": form}
            used = True
    if used:
        schema.setdefault("components", {}).setdefault("schemas", {})["DeepStackForm"] = dict(
            DEEPSTACK_FORM
        )


BINARY = {"type": "string", "format": "binary"}


def type_image_responses(schema: dict[str, Any]) -> None:
    """Picture answers (``image/jpeg``, ``image/png``) declared as binary strings, so Swagger
    offers a download and generators type them as bytes instead of guessing."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                for media_type, content in response.get("content", {}).items():
                    if media_type.startswith("image/") and not content.get("schema"):
                        content["schema"] = dict(BINARY)


def complete(schema: dict[str, Any]) -> None:
    """Every addition above, in the order they need (names before the forms refer to them)."""
    document_keyed_routes(schema)
    tidy_schema_names(schema)
    document_deepstack_forms(schema)
    type_image_responses(schema)
