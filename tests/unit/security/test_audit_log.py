"""Audit log: writes and denials are recorded in audit_log and readable at GET /api/audit with audit:read."""

from __future__ import annotations

from sec_helpers import auth, hs_token

JOB = {"name": "bau", "data_paths": ["clara_ray/resources/corpus/qa.jsonl"]}  # under training.data_roots
def auditor() -> dict:
    # Minted per use: a module-level token expires while a long suite (the Ray tests) runs first.
    return auth(hs_token("audrey", ["auditor"]))


def _events(client, **params):
    r = client.get("/api/audit", headers=auditor(), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_writes_and_denials_are_audited(dev_client):
    c = dev_client
    assert c.post("/api/training/jobs", json=JOB, headers=auth(hs_token("alice", ["trainer"]))).status_code == 201
    assert c.delete("/api/training/jobs/j1", headers=auth(hs_token("alice", ["trainer"]))).status_code == 200
    assert c.post("/api/training/jobs", json=JOB, headers=auth(hs_token("uma", ["user"]))).status_code == 403
    assert c.get("/api/training/jobs", headers=auth(hs_token("uma", ["auditor"], exp_in=-300))).status_code == 401
    assert c.get("/api/training/jobs", headers=auth(hs_token("alice", ["trainer"]))).status_code == 200  # read
    page = _events(c)
    rows = [(e["actor"], e["action"], e["resource"], e["result"]) for e in reversed(page["items"])]
    assert rows == [
        ("alice", "training:create", "/api/training/jobs", "success"),
        ("alice", "training:cancel", "/api/training/jobs/j1", "success"),
        ("uma", "training:create", "/api/training/jobs", "denied"),
        ("anonymous", "training:read", "/api/training/jobs", "denied"),
    ]
    denied = page["items"][0]
    assert denied["detail"]["reason"] == "token expired" and denied["detail"]["status"] == 401
    assert denied["ip"] == "testclient" and denied["at"]
    assert page["items"][1]["detail"]["reason"] == "missing permission: training:create"
    assert "token" not in str(page).lower().replace("token expired", "")


def test_filters_and_pagination(dev_client):
    for user in ("a", "b", "c"):
        dev_client.post("/api/training/jobs", json=JOB, headers=auth(hs_token(user, ["user"])))
    dev_client.post("/api/training/jobs", json=JOB, headers=auth(hs_token("t", ["trainer"])))
    assert _events(dev_client, result="denied")["total"] == 3
    assert [e["actor"] for e in _events(dev_client, actor="b")["items"]] == ["b"]
    page = _events(dev_client, limit=2, offset=1)
    assert page["total"] == 4 and [e["actor"] for e in page["items"]] == ["c", "b"]


def test_audit_needs_audit_read(dev_client):
    for role in ("trainer", "analyst", "user"):
        r = dev_client.get("/api/audit", headers=auth(hs_token("x", [role])))
        assert r.status_code == 403 and r.json()["missing_permission"] == "audit:read"
    assert dev_client.get("/api/audit", headers=auth(hs_token("root", ["admin"]))).status_code == 200


def test_rate_limited_requests_are_audited(dev_client):
    for _ in range(6):
        dev_client.post("/api/training/jobs", json=JOB, headers=auth(hs_token("alice", ["trainer"])))
    assert _events(dev_client, result="rate_limited")["total"] == 1


def test_mode_off_writes_no_audit(make_client):
    client = make_client(mode="off")
    client.post("/api/training/jobs", json=JOB)
    assert client.get("/api/audit").json() == {"items": [], "total": 0, "offset": 0, "limit": 50, "enabled": False}
