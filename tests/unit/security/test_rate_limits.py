"""Rate limits: 5 training-job creations per minute per user (429 + Retry-After); strict mode limits every route."""

from __future__ import annotations

from sec_helpers import SECRET, auth, hs_token

JOB = {"name": "bau", "data_paths": ["clara_ray/resources/corpus/qa.jsonl"]}  # under training.data_roots


def _create(client, user):
    return client.post("/api/training/jobs", json=JOB, headers=auth(hs_token(user, ["trainer"])))


def test_sixth_job_creation_in_a_minute_gets_429(dev_client):
    assert [_create(dev_client, "alice").status_code for _ in range(5)] == [201] * 5
    r = _create(dev_client, "alice")
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.json()["error"] == "RateLimited" and "training:create" in r.json()["detail"]
    assert _create(dev_client, "bob").status_code == 201  # per user
    retry = dev_client.post("/api/training/jobs/j1/retry", headers=auth(hs_token("alice", ["trainer"])))
    assert retry.status_code == 429  # a retry creates a job too: same bucket
    reads = [dev_client.get("/api/training/jobs", headers=auth(hs_token("alice", ["trainer"]))).status_code
             for _ in range(10)]
    assert reads == [200] * 10  # no limit on reads outside strict mode


def test_limits_per_route_from_config(make_client):
    client = make_client(mode="dev", jwt_secret=SECRET,
                         rate_limit={"limits": {"GET /api/training/jobs/{job_id}": "2/minute"}})
    h = auth(hs_token("alice", ["analyst"]))
    assert [client.get(f"/api/training/jobs/j{i}", headers=h).status_code for i in range(3)] == [200, 200, 429]
    assert _create(client, "alice").status_code == 201  # no training:create entry any more


def test_off_mode_has_no_limits(make_client):
    client = make_client(mode="off")
    assert all(client.post("/api/training/jobs", json=JOB).status_code == 201 for _ in range(7))


def test_strict_mode_limits_every_route_per_ip_and_user(make_client, jwks_server, key_a):
    from sec_helpers import AUDIENCE, ISSUER

    client = make_client(base_url="https://testserver", mode="strict", issuer=ISSUER, audience=AUDIENCE,
                         jwks_url=jwks_server.url, rate_limit={"default": "3/minute", "auth_failures": "2/minute"})
    assert [client.get("/health").status_code for _ in range(4)] == [200, 200, 200, 429]  # public: per IP
    h = auth(key_a.token("alice", ["analyst"]))
    assert [client.get("/api/training/jobs", headers=h).status_code for _ in range(4)] == [200, 200, 200, 429]
    bad = auth(key_a.token(exp_in=-300))
    assert [client.get("/api/training/jobs", headers=bad).status_code for _ in range(3)] == [401, 401, 429]


def test_a_caller_without_the_permission_gets_403_and_spends_no_budget(dev_client):
    """Authorization runs before the rate limit: denied attempts neither answer 429 nor use up the bucket."""
    analyst = auth(hs_token("carol", ["analyst"]))  # may read jobs, may not create them
    denied = [dev_client.post("/api/training/jobs", json=JOB, headers=analyst) for _ in range(8)]
    assert [r.status_code for r in denied] == [403] * 8
    assert {r.json()["missing_permission"] for r in denied} == {"training:create"}
    # the same subject, now granted the permission, still has its whole budget of 5
    assert [_create(dev_client, "carol").status_code for _ in range(5)] == [201] * 5
    assert _create(dev_client, "carol").status_code == 429


def test_each_permission_has_its_own_bucket(dev_client):
    """A learning-cycle trigger spends `learning:trigger`, not the job-creation budget (and the other way round)."""
    h = auth(hs_token("dave", ["trainer"]))

    def trigger():
        return dev_client.post("/api/learning/trigger", json={"adapter": "bau"}, headers=h)

    assert [_create(dev_client, "dave").status_code for _ in range(5)] == [201] * 5
    assert _create(dev_client, "dave").status_code == 429  # job creation spent ...
    assert [trigger().status_code for _ in range(5)] == [202] * 5  # ... the trigger bucket is untouched
    r = trigger()
    assert r.status_code == 429 and "learning:trigger" in r.json()["detail"]
