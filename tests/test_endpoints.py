"""Endpoint templating, table-driven."""

from __future__ import annotations

import pytest

from shadowdiff.store import endpoint_for, template_path

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/users/123", "/users/{id}"),
        ("/users/123/", "/users/{id}/"),
        ("/orders/42/items/7", "/orders/{id}/items/{id}"),
        ("/u/3fa85f64-5717-4562-b3fc-2c963f66afa6", "/u/{uuid}"),
        ("/blob/0123456789abcdef0123", "/blob/{hex}"),
        ("/blob/deadbeefdeadbeefdeadbeef", "/blob/deadbeefdeadbeefdeadbeef"),  # no digit: a word
        ("/v2/predict/", "/v2/predict/"),
        ("/predict/?x=1", "/predict/"),
        ("/", "/"),
        ("", "/"),
        ("/prices/-1.5", "/prices/{id}"),
    ],
)
def test_template_path(path: str, expected: str) -> None:
    assert template_path(path) == expected


def test_endpoint_for_uppercases_method() -> None:
    assert endpoint_for("get", "/users/9") == "GET /users/{id}"
