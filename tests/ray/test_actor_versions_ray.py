"""Detached actors carry their code/settings version: a deploy with another one replaces them, the same keeps them."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.ray]


@pytest.mark.timeout(240)
def test_a_deploy_with_other_settings_replaces_the_job_manager(ray_cluster, tmp_path):
    import ray
    from ray.exceptions import RayActorError

    from actors.job_manager import MANAGER_NAME, get_or_create_job_manager
    from actors.versioning import deploy_version
    from clara_ray.config import load_settings

    # Own namespace and data dir: the session's deployment and its database are not touched.
    common = dict(storage={"data_dir": tmp_path / "clara"}, ray={"namespace": f"clara-versions-{tmp_path.name}"})
    a = load_settings(**common, training={"max_concurrent_jobs": 1})
    b = load_settings(**common, training={"max_concurrent_jobs": 2})
    version_a, version_b = (deploy_version(s.model_dump(mode="json")) for s in (a, b))
    assert version_a != version_b
    ns = a.ray.namespace
    first = second = None
    try:
        first = get_or_create_job_manager(a)
        assert ray.get(first.version.remote()) == version_a
        assert get_or_create_job_manager(a) == first  # same version: the running actor is kept

        second = get_or_create_job_manager(b)
        assert second != first and ray.get(second.version.remote()) == version_b
        assert ray.get_actor(MANAGER_NAME, namespace=ns) == second  # the name now points at B's actor
        with pytest.raises(RayActorError):
            ray.get(first.version.remote(), timeout=60)  # and A's is gone for good (not restarted)
        assert ray.get(second.list.remote())["total"] == 0  # rebuilt from the database, ready for work

        # A client attaching without deploying (jobs/train.py --submit) takes what runs, whatever its version.
        assert get_or_create_job_manager(a, replace_stale=False) == second
    finally:
        for actor in (first, second):
            if actor is not None:
                ray.kill(actor, no_restart=True)
