"""Schemathesis drives every operation of the published OpenAPI document against the app.

Cases come from ``GET /openapi.json``'s document — valid bodies and, as schemathesis does,
deliberately invalid ones — and are sent through Starlette's TestClient with
``raise_server_exceptions=True``. No answer may be a 500, and schemathesis' own checks must pass:
the status is listed, the content type is documented, JSON bodies match their schema (errors
match Error), required headers and auth behave. Two of its checks do not apply here: a valid
body names a source that does not exist (so it is refused with a 400), and 502/504 are documented
answers, not server errors. Source URLs never leave the machine: only ``img.test`` is allowed,
and the package's network fence stands behind that.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance
from starlette.testclient import TestClient

from config import load_settings
from origin import create_app
from origin.openapi import openapi_document
from tests.hardening.conftest import (
    ALPHA,
    LoopbackResolver,
    hardening_environ,
    put_in_storage,
)
from tests.hardening.published import check_answer

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("schema") / "data"
    put_in_storage(data_dir, "tiny-1x1.png", "string")  # what a generated storageKey often is
    environ = hardening_environ(
        data_dir,
        render_workers="2",
        render_queue="8",
        rate_limit_per_minute="1000000",
        source_allowlist="img.test",
    )
    app = create_app(load_settings(environ), resolver=LoopbackResolver())
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client


def _part(name: str, value: Any) -> tuple[str, Any]:
    """A requests-style multipart part as httpx takes it (values of any type become text)."""
    filename, content, *rest = value if isinstance(value, tuple) else (None, value)
    if not isinstance(content, bytes | str):
        content = str(content)
    return name, (filename, content, *rest)


def send(client: TestClient, kwargs: dict[str, Any]) -> Any:
    """Send what schemathesis prepared for the requests library through the test client."""
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    if isinstance(kwargs.get("data"), bytes | str):
        body["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["data"] = kwargs["data"]
    if kwargs.get("files"):
        body["files"] = [_part(name, value) for name, value in kwargs["files"]]
    request = client.build_request(
        kwargs["method"],
        kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params") or None,
        cookies=kwargs.get("cookies") or None,
        **body,
    )
    request.read()  # a multipart body is a stream until read; schemathesis reads it back
    return client.send(request)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_answers_conform_to_the_published_schema(client: TestClient, case: Any) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=ALPHA)
    response = send(client, kwargs)
    assert response.status_code != 500, response.text
    case.validate_response(
        response, excluded_checks=[positive_data_acceptance, not_a_server_error, ignored_auth]
    )


SECURED = [
    (method.upper(), path)
    for path, item in openapi_document()["paths"].items()
    for method, operation in item.items()
    # Operations whose security includes {} (an asset: public, or private to its key) are not.
    if isinstance(operation, dict) and operation.get("security") and {} not in operation["security"]
]


@pytest.mark.parametrize(("method", "path"), SECURED)
def test_every_secured_operation_refuses_a_missing_or_wrong_key_alike(
    client: TestClient, method: str, path: str
) -> None:
    """What schemathesis' auth check would test, had the cases not been sent with our key."""
    url = path.replace("{packId}", "tiktok")
    answers = [
        client.request(method, url, headers=headers, json={})
        for headers in ({}, {"X-API-Key": "wrong-key-0123456789abcdef"}, {"X-API-Key": ""})
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.text for a in answers}) == 1
    assert {a.headers["www-authenticate"] for a in answers} == {
        'ApiKey realm="imgstax", header="X-API-Key"'
    }
    for answer in answers:
        check_answer(path, answer)
