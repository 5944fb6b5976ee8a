"""POST /api/keys with hostile key names: 422 naming `name`, and no key is created."""

from __future__ import annotations

import pytest

from test_api_keys import dev, dev_admin, make_app  # noqa: F401 - fixtures and the admin token

from tests.hostile_inputs import HOSTILE_NAMES


@pytest.mark.parametrize("label", list(HOSTILE_NAMES))
def test_hostile_key_names_get_422_and_no_key(dev, label):  # noqa: F811 - the imported fixture
    r = dev.post("/api/keys", json={"name": HOSTILE_NAMES[label], "roles": ["user"]}, headers=dev_admin())
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["detail"]] == ["name"], r.text
    assert dev.get("/api/keys", headers=dev_admin()).json()["items"] == []


def test_a_good_key_name_is_created(dev):  # noqa: F811
    r = dev.post("/api/keys", json={"name": "ci-pipeline.2", "roles": ["user"]}, headers=dev_admin())
    assert r.status_code == 201 and r.json()["name"] == "ci-pipeline.2"
