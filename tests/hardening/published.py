"""Check an answer against the published OpenAPI document: status listed, JSON body valid.

The document is the one ``GET /openapi.json`` serves; ``$ref``s resolve inside it.
"""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft4Validator

from origin.openapi import openapi_document

DOCUMENT = openapi_document()


def _validator(schema: dict[str, Any]) -> Draft4Validator:
    # OpenAPI 3.0 schemas are a superset of draft 4; refs point into the whole document.
    return Draft4Validator({**schema, "components": DOCUMENT["components"]})


def check_answer(template: str, response: httpx.Response) -> None:
    """Assert that this answer to ``method template`` is one the document describes."""
    method = response.request.method.lower()
    operation = DOCUMENT["paths"][template][method]
    documented = operation["responses"]
    status = str(response.status_code)
    assert status in documented, (
        f"{method.upper()} {template} answered {status}, not listed in {sorted(documented)}: "
        f"{response.text[:300]}"
    )
    content = documented[status].get("content", {})
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if not content:
        return
    assert media in content or any(
        kind.endswith("/*") and media.startswith(kind[:-1]) for kind in content
    ), f"{method.upper()} {template} {status} answered {media!r}, documented {sorted(content)}"
    if media == "application/json" and method != "head":
        schema = content[media]["schema"]
        errors = sorted(_validator(schema).iter_errors(response.json()), key=str)
        assert not errors, f"{method.upper()} {template} {status}: {errors[0].message}"
