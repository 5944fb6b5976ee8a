"""A Serve app of a test's own (its settings, namespace and database) beside the session's, and its removal together
with the detached actors it created (revision hub, job manager, learning buffer)."""

from __future__ import annotations

DETACHED = ("clara-revisions", "clara-job-manager", "clara-learning-buffer")


def deploy_own_app(settings, name: str, prefix: str, llm_replicas: int = 1, **api_options) -> None:
    """ClaraApi (1 replica) over `llm_replicas` LoraLLM replicas, on small CPU shares (the session's app runs too)."""
    from ray import serve

    from deployments.api import ClaraApi
    from deployments.llm import llm_deployment

    data = settings.model_dump(mode="json")
    llm = llm_deployment(settings).options(num_replicas=llm_replicas, ray_actor_options={"num_cpus": 0.2}).bind(data)
    app = ClaraApi.options(num_replicas=1, ray_actor_options={"num_cpus": 0.05}, **api_options).bind(data, llm)
    serve.run(app, name=name, route_prefix=prefix)


def remove_own_app(name: str, namespace: str) -> None:
    """The app, its detached actors, and the runners of jobs still running in its namespace (detached too: a test
    that failed mid-cycle would leave its training job running into the next tests)."""
    import ray
    from ray import serve

    from actors.training_runner import RUNNER_PREFIX

    serve.delete(name)
    runners = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
               if a["namespace"] == namespace and a["name"].startswith(RUNNER_PREFIX)]
    for actor in (*DETACHED, *runners):
        try:
            ray.kill(ray.get_actor(actor, namespace=namespace), no_restart=True)
        except ValueError:
            pass
