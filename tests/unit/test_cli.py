"""The `clara` CLI against the real FastAPI app in-process: arguments, progress, tables, --json, one-line errors.

Serving is the real ServingService on the tiny base model (real registry, streaming, archives); training jobs
come from a scripted backend that advances a job two steps per GET (no clocks); feedback from a small backend
that rejects low ratings without a correction.
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent / "security"))
from sec_helpers import SECRET, hs_token  # noqa: E402

from clara_ray.cli import demo as demo_cmd  # noqa: E402
from clara_ray.cli.client import ApiClient, ApiError, error_message  # noqa: E402
from clara_ray.cli.context import Overrides  # noqa: E402
from clara_ray.cli.main import app  # noqa: E402
from clara_ray.training.job_store import IllegalTransition, JobNotFound  # noqa: E402
from clara_ray.learning.feedback import FeedbackResult, FeedbackSample, FeedbackStatus  # noqa: E402
from clara_ray.training.spec import TrainingJobRequest  # noqa: E402

# Minted at collection, used up to an hour later when the whole suite runs: they must outlive it.
ADMIN = hs_token("root", roles=("admin",), exp_in=6 * 3600)
USER = hs_token("ursula", roles=("user",), exp_in=6 * 3600)


class ScriptedJobs:
    """The jobs backend over plain dicts: a running job advances two steps per GET; `doomed-*` jobs fail."""

    TOTAL = 4

    def __init__(self):
        self.jobs: dict[str, dict] = {}
        self.points: dict[str, list[dict]] = {}
        self.requests: list[dict] = []

    def _new(self, request: dict, attempt: int = 1, retry_of: str | None = None) -> dict:
        job_id = f"job{len(self.jobs) + 1:03d}"
        self.jobs[job_id] = {"job_id": job_id, "name": request["name"], "trainer_type": request["trainer_type"],
                             "status": "QUEUED", "priority": request["priority"], "attempt": attempt,
                             "retry_of": retry_of, "error": None, "step": 0, "total_steps": None, "progress": 0.0,
                             "eta_seconds": None, "metrics": {}, "adapter_version_id": None, "request": request,
                             "created_by": "root", "created_at": "2026-11-01T10:00:00+00:00", "queued_at": None,
                             "started_at": None, "finished_at": None}
        self.points[job_id] = [{"kind": "data", "step": 0, "time": 0.0, "train_records": 40, "rejected": 1}]
        return dict(self.jobs[job_id])

    async def create(self, request: TrainingJobRequest, created_by: str | None = None) -> dict:
        sent = request.model_dump(mode="json")  # what the job manager stores
        self.requests.append(sent)
        return self._new(sent)

    async def get(self, job_id: str) -> dict:
        job = self._job(job_id)
        if job["status"] == "QUEUED":
            job.update(status="RUNNING", total_steps=self.TOTAL)
        elif job["status"] == "RUNNING":
            step = job["step"] + 2
            loss = 3.0 / step
            job.update(step=step, eta_seconds=float(self.TOTAL - step), metrics={"loss": loss})
            self.points[job_id].append({"kind": "step", "step": step, "time": float(step), "loss": loss,
                                        "learning_rate": 0.002, "tokens_per_s": 500.0})
            if job["name"].startswith("doomed"):
                job.update(status="FAILED", error="no valid training records in bad.jsonl")
            elif step >= self.TOTAL:
                self.points[job_id].append({"kind": "eval", "step": step, "time": 9.0, "perplexity": 7.5})
                job.update(status="COMPLETED", eta_seconds=None,
                           metrics={"loss": loss, "ppl_before": 12.0, "ppl_after": 7.5, "train_seconds": 65.0,
                                    "adapter": f"{job['name']}@v7"})
        return dict(job)

    async def list(self, **filters) -> dict:
        items = [j for j in reversed(self.jobs.values())
                 if (not filters.get("status") or j["status"] in filters["status"])
                 and (not filters.get("name") or j["name"] == filters["name"])]
        offset, limit = filters.get("offset", 0), filters.get("limit", 50)
        return {"items": items[offset:offset + limit], "total": len(items), "offset": offset, "limit": limit}

    async def metrics(self, job_id: str) -> dict:
        self._job(job_id)
        return {"job_id": job_id, "points": self.points[job_id]}

    async def cancel(self, job_id: str) -> dict:
        job = self._job(job_id)
        if job["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            raise IllegalTransition(f"job {job_id} is already {job['status']}; nothing to cancel")
        job.update(status="CANCELLED", error="cancelled through the API")
        return dict(job)

    async def retry(self, job_id: str, created_by: str | None = None) -> dict:
        job = self._job(job_id)
        if job["status"] not in ("FAILED", "CANCELLED"):
            raise IllegalTransition(f"job {job_id} is {job['status']}; only FAILED or CANCELLED jobs can be retried")
        return self._new(job["request"], job["attempt"] + 1, job_id)

    async def wait_events(self, after: int, timeout: float = 15.0) -> list[dict]:
        return []

    async def last_seq(self) -> int:
        return 0

    def _job(self, job_id: str) -> dict:
        if job_id not in self.jobs:
            raise JobNotFound(f"job {job_id} not found")
        return self.jobs[job_id]


class RatingLearning:
    """The learning backend's add_feedback contract: a rating under 0.5 without a correction is rejected."""

    async def add_feedback(self, items: list[FeedbackSample], caller: str | None = None,
                           item_keys: list[str | None] | None = None) -> list[FeedbackResult]:
        return [FeedbackResult(status=FeedbackStatus.REJECTED, accepted=False, quality=i.rating,
                               reason="low rating without a correction")
                if i.rating < 0.5 and not i.correction else
                FeedbackResult(status=FeedbackStatus.QUEUED, accepted=True, id=f"fb{n}", quality=0.9)
                for n, i in enumerate(items)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from clara_ray.adapters.registry import AdapterRegistry
    from clara_ray.adapters.store import AdapterStore
    from clara_ray.api.app import build_app
    from clara_ray.config import load_settings
    from clara_ray.db.engine import Database
    from clara_ray.security.settings import SecurityConfig
    from clara_ray.serving.batched_engine import BatchedEngine
    from clara_ray.serving.local_backend import AdapterLoader, LocalBackend
    from clara_ray.serving.service import ServingService
    from clara_ray.serving.testing import build_random_lora
    from clara_ray.training.base_model import TinyModelSpec, ensure_base_model
    from clara_ray.training.pipeline import base_model_id

    root = tmp_path_factory.mktemp("cli")
    tmp = str(root.parent)  # every test's tmp_path lies in it; /data: the job files these tests name
    settings = load_settings(storage={"data_dir": root}, serving={"max_new_tokens": 32, "max_prompt_tokens": 64,
                                                                  "adapter_import_roots": [tmp]},
                             training={"data_roots": [tmp, "/data", "{resources}"]}, router={"use_embeddings": False})
    settings = settings.model_copy(update={"security": SecurityConfig(mode="dev", jwt_secret=SECRET,
                                                                            rate_limit={"enabled": False})})
    base = str(ensure_base_model("tiny", root / "models", TinyModelSpec(pretrain_steps=0)))
    db = Database(settings.storage.database_url)
    reg, store = AdapterRegistry(db), AdapterStore(settings.storage.adapter_store_uri)
    for v in range(2):
        folder = build_random_lora(base, root / f"src-{v}", r=8, lora_alpha=16, seed=v)
        row = reg.register(name="baurecht", uri=store.put(folder, "baurecht", f"bau{v}"), version_id=f"bau{v}",
                           base_model=base_model_id(base), trainer_type="LORA", rank=8, domain="baurecht")
        if v == 0:
            reg.activate(row.id)
    engine = BatchedEngine(base, max_adapters=4, max_new_tokens=32, max_prompt_tokens=64)
    svc = ServingService(settings, db, LocalBackend(engine, AdapterLoader(engine, store, root / "cache",
                                                                          base_model_id(base))),
                         base_model_path=base)
    jobs = ScriptedJobs()
    api = build_app(settings, serving=svc, jobs=jobs, learning=RatingLearning())
    with TestClient(api, raise_server_exceptions=False) as client:
        yield {"client": client, "jobs": jobs, "base": base, "root": root}


def clara(world, *args: str, token: str | None = ADMIN, stdin: str | None = None):
    """Run `clara ARGS` in-process against the world's app (polls without waiting)."""
    env = {"CLARA_API_KEY": token or "", "CLARA_TOKEN": "", "CLARA_URL": "", "COLUMNS": "200"}
    return CliRunner().invoke(app, list(args), obj=Overrides(http=world["client"], poll_seconds=0), env=env,
                              input=stdin)


def ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.stdout


def failed(result, code: int = 1) -> str:
    """The command failed with `code` and one `error:` line on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output, result.exception
    assert result.stderr.startswith("error: "), result.stderr
    return result.stderr


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return str(path)


JOB = "name: baurecht\ntrainer_type: LORA\ndata_paths: [/data/qa.jsonl]\nlora: {r: 8}\nepochs: 2\n"


# ---- train --------------------------------------------------------------------------------------------------
@pytest.mark.timeout(240)  # the first test of the module: its limit covers building `world` (a tiny base model)
def test_train_follows_the_job_with_progress_until_it_completes(world, tmp_path):
    out = ok(clara(world, "train", write_config(tmp_path, JOB), "--set", "max_steps=4", "--set", "lora.alpha=16"))
    sent = world["jobs"].requests[-1]
    assert sent["max_steps"] == 4 and sent["epochs"] == 2 and sent["lora"]["r"] == 8 and sent["lora"]["alpha"] == 16
    assert "QUEUED" in out and "RUNNING" in out and "COMPLETED" in out
    assert "step 4/4" in out and "loss 0.75" in out  # the bar's last state: every step, the last loss
    assert "new adapter version baurecht@v7" in out and "validation perplexity 12 -> 7.5" in out


@pytest.mark.timeout(120)
def test_failed_job_exits_nonzero_with_its_error(world, tmp_path):
    r = clara(world, "train", write_config(tmp_path, JOB.replace("baurecht", "doomed-one")))
    err = failed(r)
    assert "FAILED: no valid training records in bad.jsonl" in err and "clara jobs logs" in err
    assert "step 2/4" in r.stdout


@pytest.mark.timeout(120)
def test_train_json_and_detach_print_parseable_job_views(world, tmp_path):
    config = write_config(tmp_path, JOB)
    detached = json.loads(ok(clara(world, "train", config, "--detach", "--json")))
    assert detached["status"] == "QUEUED" and detached["name"] == "baurecht"
    final = json.loads(ok(clara(world, "--json", "train", config)))  # the global flag works too
    assert final["status"] == "COMPLETED" and final["step"] == 4
    failed_view = clara(world, "train", write_config(tmp_path, JOB.replace("baurecht", "doomed-two")), "--json")
    assert failed_view.exit_code == 1 and json.loads(failed_view.stdout)["status"] == "FAILED"
    plain = ok(clara(world, "train", config, "-d"))
    assert plain.startswith("job job") and "submitted" in plain and "clara jobs show" in plain


@pytest.mark.timeout(60)
def test_train_config_mistakes_are_one_line_errors(world, tmp_path):
    assert "not found" in failed(clara(world, "train", str(tmp_path / "missing.yaml")))
    assert "not valid YAML (line 2)" in failed(clara(world, "train", write_config(tmp_path, "name: a\n  bad: [\n")))
    assert "must be a mapping" in failed(clara(world, "train", write_config(tmp_path, "- a\n- b\n")))
    assert "expected KEY=VALUE" in failed(clara(world, "train", write_config(tmp_path, JOB), "--set", "epochs"))
    # validated by the API: its field list, on one line
    err = failed(clara(world, "train", write_config(tmp_path, JOB + "epochz: 3\n")))
    assert "HTTP 422 ValidationError: epochz:" in err and len(err.strip().splitlines()) == 1
    err = failed(clara(world, "train", write_config(tmp_path, "name: Bad Name\ndata_paths: [x.jsonl]\n")))
    assert "HTTP 422" in err and "name:" in err and len(err.strip().splitlines()) == 1


# ---- jobs -----------------------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_a_sweep_is_submitted_from_its_yaml_and_shown_with_its_trials(world, tmp_path):
    text = JOB + "sweep:\n  space: {learning_rate: [0.003, 0.000001]}\n  search: grid\n"
    done = json.loads(ok(clara(world, "train", write_config(tmp_path, text), "--json")))["job_id"]
    assert world["jobs"].requests[-1]["sweep"]["space"]["learning_rate"] == [0.003, 0.000001]
    trials = [{"trial_id": "t1", "status": "completed", "config": {"learning_rate": 0.003}, "evaluations": 2,
               "val_perplexity": 7.5, "curve": [8.0, 7.5]},
              {"trial_id": "t2", "status": "stopped_early", "config": {"learning_rate": 1e-06}, "evaluations": 1,
               "val_perplexity": 12.0, "curve": [12.0]}]
    world["jobs"].jobs[done]["metrics"]["sweep"] = {"best_trial": "t1", "config": {"learning_rate": 0.003},
                                                    "trials": trials}
    shown = ok(clara(world, "jobs", "show", done))
    cells = re.sub(r"[\s│]+", " ", shown)  # the table's cells, one space apart
    assert "sweep trials (* best)" in shown and "* t1 completed learning_rate=0.003 2 7.5" in cells
    assert "t2 stopped_early learning_rate=1e-06 1 12" in cells
    bad = failed(clara(world, "train", write_config(tmp_path, JOB + "sweep: {space: {}}\n")))
    assert "sweep.space" in bad and "varies nothing" in bad


def test_jobs_list_show_logs_cancel_retry(world, tmp_path):
    jobs = world["jobs"]
    done = json.loads(ok(clara(world, "train", write_config(tmp_path, JOB), "--json")))["job_id"]
    doomed = json.loads(clara(world, "train", write_config(tmp_path, JOB.replace("baurecht", "doomed-three")),
                              "--json").stdout)["job_id"]
    queued = json.loads(ok(clara(world, "train", write_config(tmp_path, JOB), "--detach", "--json")))["job_id"]

    listing = ok(clara(world, "jobs", "list"))
    assert done in listing and doomed in listing and queued in listing and "no valid training records" in listing
    only_failed = json.loads(ok(clara(world, "jobs", "list", "--status", "failed", "--json")))
    assert {j["status"] for j in only_failed["items"]} == {"FAILED"} and doomed in {j["job_id"] for j in
                                                                                   only_failed["items"]}
    page = ok(clara(world, "jobs", "list", "--limit", "1"))
    assert f"1 of {len(jobs.jobs)} jobs (more with --offset 1)" in page

    shown = ok(clara(world, "jobs", "show", done))
    assert "COMPLETED" in shown and "4/4" in shown and "baurecht@v7" in shown and "ppl_after" in shown
    assert json.loads(ok(clara(world, "jobs", "show", done, "--json")))["job_id"] == done

    logs = ok(clara(world, "jobs", "logs", doomed))
    assert "data: train_records=40, rejected=1" in logs and "step 2: loss 1.5" in logs
    assert "error: no valid training records in bad.jsonl" in logs
    assert "eval  4: perplexity 7.5" in ok(clara(world, "jobs", "logs", done))

    assert "CANCELLED" in ok(clara(world, "jobs", "cancel", queued))
    err = failed(clara(world, "jobs", "cancel", done))
    assert err.strip() == f"error: HTTP 409 IllegalTransition: job {done} is already COMPLETED; nothing to cancel"
    again = ok(clara(world, "jobs", "retry", doomed))
    assert f"(attempt 2, retry of {doomed})" in again
    assert "only FAILED or CANCELLED" in failed(clara(world, "jobs", "retry", done))
    assert failed(clara(world, "jobs", "show", "nope")).strip() == "error: HTTP 404 JobNotFound: job nope not found"
    assert clara(world, "jobs", "list", "--limit", "0").exit_code == 2  # a usage error, checked before any request


# ---- adapters -----------------------------------------------------------------------------------------------
@pytest.mark.timeout(180)
def test_adapters_list_activate_rollback(world):
    listing = ok(clara(world, "adapters", "list"))
    assert "base model: tiny-" in listing
    rows = {line.split("│")[2].strip(): line.split("│")[1].strip() for line in listing.splitlines()
            if "baurecht@v" in line}
    assert rows == {"baurecht@v1": "*", "baurecht@v2": ""}

    assert ok(clara(world, "adapters", "activate", "baurecht@v2")).strip() == "baurecht -> baurecht@v2 (revision 2)"
    as_json = json.loads(ok(clara(world, "adapters", "list", "--json", "--name", "baurecht")))
    assert as_json["aliases"]["baurecht"] == "baurecht@v2"
    assert {v["ref"] for v in as_json["versions"]} >= {"baurecht@v1", "baurecht@v2"}
    assert "baurecht -> baurecht@v1" in ok(clara(world, "adapters", "rollback", "baurecht"))
    assert json.loads(ok(clara(world, "adapters", "rollback", "baurecht", "--to", "2", "--json")))["version"] == \
        "baurecht@v2"
    ok(clara(world, "adapters", "rollback", "baurecht", "--to-version", "1"))

    err = failed(clara(world, "adapters", "activate", "steuer@v1"))
    assert err.startswith("error: HTTP 404 UnknownAdapter:") and len(err.strip().splitlines()) == 1
    assert "HTTP 422" in failed(clara(world, "adapters", "activate", "../../etc"))
    assert "no adapters named steuer" in ok(clara(world, "adapters", "list", "--name", "steuer"))


@pytest.mark.timeout(180)
def test_adapters_export_and_import_round_trip(world, tmp_path):
    out = ok(clara(world, "adapters", "export", "baurecht@v2", "-o", str(tmp_path)))
    archive = tmp_path / "baurecht-v2.tar.gz"
    assert f"wrote {archive}" in out and archive.is_file()
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert any(n.endswith("adapter_config.json") for n in names)
        tar.extractall(tmp_path / "unpacked", filter="data")
    folder = next(p.parent for p in (tmp_path / "unpacked").rglob("adapter_config.json"))
    named = tmp_path / "mine.tar.gz"
    assert json.loads(ok(clara(world, "adapters", "export", "baurecht", "-o", str(named), "--json")))["bytes"] == \
        named.stat().st_size > 0

    imported = ok(clara(world, "adapters", "import", "imported", str(folder), "--domain", "baurecht"))
    assert "imported imported@v1 (candidate)" in imported and "clara adapters activate imported@v1" in imported
    assert "not an archive" in failed(clara(world, "adapters", "import", "other", str(archive)))
    assert "not a PEFT adapter" in failed(clara(world, "adapters", "import", "other", str(tmp_path / "unpacked")))
    assert "HTTP 404" in failed(clara(world, "adapters", "export", "nope@v1", "-o", str(tmp_path)))
    assert "does not exist" in failed(clara(world, "adapters", "export", "baurecht", "-o",
                                            str(tmp_path / "no" / "x.tar.gz")))


# ---- chat -----------------------------------------------------------------------------------------------------
@pytest.mark.timeout(180)
def test_chat_streams_one_answer_and_holds_a_conversation(world):
    answer = ok(clara(world, "chat", "baurecht", "--message", "Brauche ich eine Baugenehmigung?",
                      "--max-tokens", "8", "--temperature", "0"))
    whole = world["client"].post("/v1/chat/completions", headers={"Authorization": f"Bearer {ADMIN}"}, json={
        "model": "baurecht", "max_tokens": 8, "temperature": 0,
        "messages": [{"role": "user", "content": "Brauche ich eine Baugenehmigung?"}]}).json()
    assert answer == whole["choices"][0]["message"]["content"] + "\n"  # the streamed pieces add up to the answer
    as_json = json.loads(ok(clara(world, "chat", "baurecht", "-m", "Brauche ich eine Baugenehmigung?",
                                  "--max-tokens", "8", "--temperature", "0", "--json")))
    assert as_json["content"] + "\n" == answer and as_json["finish_reason"] in ("length", "stop")

    session = clara(world, "chat", "baurecht", "--max-tokens", "4", "--system", "Antworte kurz.",
                    stdin="Hallo\n\nUnd weiter?\n" + "lang " * 200 + "\n/exit\n")
    assert session.exit_code == 0, session.output
    assert session.stdout.count("baurecht> ") == 3  # two answers and the turn the API refused
    assert "HTTP 400" in session.stderr  # the too-long turn is reported and the chat goes on

    assert "HTTP 404" in failed(clara(world, "chat", "nope", "-m", "hi", "--max-tokens", "4"))
    assert "max_tokens" in failed(clara(world, "chat", "baurecht", "-m", "hi", "--max-tokens", "1000"))
    assert "--json needs --message" in failed(clara(world, "chat", "baurecht", "--json", stdin=""))


# ---- feedback ------------------------------------------------------------------------------------------------
def feedback_line(rating: float, **extra) -> str:
    return json.dumps({"prompt": "Brauche ich eine Baugenehmigung für einen Carport?",
                       "response": "In den meisten Bundesländern ist ein kleiner Carport genehmigungsfrei.",
                       "rating": rating, "adapter": "baurecht", **extra})


@pytest.mark.timeout(60)
def test_feedback_send_reports_accepted_and_rejected_in_batches(world, tmp_path):
    path = tmp_path / "fb.jsonl"
    path.write_text("\n".join([feedback_line(0.9), feedback_line(0.1), "", feedback_line(0.2, correction="Ja."),
                               feedback_line(0.3)]) + "\n")
    out = ok(clara(world, "feedback", "send", str(path), "--batch-size", "2"))
    assert f"{path}: 4 samples, 2 accepted, 2 rejected" in out
    assert "low rating without a correction" in out and "2, 5" in out  # file line numbers
    report = json.loads(ok(clara(world, "feedback", "send", str(path), "--json")))
    assert report["accepted"] == 2 and [r["line"] for r in report["results"]] == [1, 2, 4, 5]

    path.write_text(feedback_line(0.9) + "\n{oops\n")
    assert f"{path} line 2: not valid JSON" in failed(clara(world, "feedback", "send", str(path)))
    path.write_text(feedback_line(0.9) + "\n" + feedback_line(7) + "\n")
    err = failed(clara(world, "feedback", "send", str(path)))
    assert "HTTP 422" in err and "line 2: rating:" in err
    assert "not found" in failed(clara(world, "feedback", "send", str(tmp_path / "none.jsonl")))


# ---- keys, auth and transport errors --------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_keys_create_list_revoke_and_use(world):
    created = clara(world, "keys", "create", "ci-bot", "--role", "user", "--role", "analyst",
                    "--expires-in-days", "30")
    out = ok(created)
    assert "created key" in out and re.search(r"\(ci-bot; roles (analyst, user|user, analyst); expires 20", out)
    assert "will not be shown again" in created.stderr
    key = json.loads(ok(clara(world, "keys", "create", "script", "-r", "user", "--json")))["key"]

    assert "base model" in ok(clara(world, "adapters", "list", token=key))  # the new key works
    listing = json.loads(ok(clara(world, "keys", "list", "--json")))["items"]
    key_id = next(k["id"] for k in listing if k["name"] == "script")
    table = ok(clara(world, "keys", "list"))
    assert "ci-bot" in table and "script" in table and key not in table
    assert "revoked key" in ok(clara(world, "keys", "revoke", key_id))
    assert "HTTP 401" in failed(clara(world, "adapters", "list", token=key))
    assert "HTTP 403" in failed(clara(world, "keys", "list", token=USER))


@pytest.mark.timeout(60)
def test_auth_and_transport_errors_are_one_line(world):
    err = failed(clara(world, "jobs", "list", token=None))
    assert err.startswith("error: HTTP 401") and len(err.strip().splitlines()) == 1
    err = failed(clara(world, "train", "--set", "x=1", "/dev/null", token=USER))
    assert "job config /dev/null not found" in err
    err = failed(clara(world, "jobs", "list", token=USER))
    assert "HTTP 403" in err and "training:read" in err

    refused = CliRunner().invoke(app, ["--url", "http://127.0.0.1:9", "adapters", "list"], env={"CLARA_URL": ""})
    assert refused.exit_code == 1 and refused.stderr.strip() == (
        "error: cannot reach the CLARA API at http://127.0.0.1:9: is it running? (set --url or CLARA_URL)")
    bad_url = CliRunner().invoke(app, ["adapters", "list"], env={"CLARA_URL": "localhost:8000"})
    assert bad_url.exit_code == 1 and "must start with http://" in bad_url.stderr


def test_error_bodies_of_every_shape_become_one_line():
    import httpx

    def resp(status: int, body) -> httpx.Response:
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return httpx.Response(status, content=content, request=httpx.Request("GET", "http://x/y"))

    assert error_message(resp(404, {"error": "UnknownAdapter", "detail": "no adapter 'x'"})) == \
        "HTTP 404 UnknownAdapter: no adapter 'x'"
    assert error_message(resp(422, {"error": "ValidationError", "detail": [
        {"field": "epochs", "message": "too big"}, {"field": "name", "message": "bad"}]})) == \
        "HTTP 422 ValidationError: epochs: too big; name: bad"
    assert error_message(resp(400, {"error": {"message": "max_tokens too large", "type": "invalid_request_error",
                                              "param": "max_tokens", "code": None}})) == \
        "HTTP 400 invalid_request_error: max_tokens too large (param max_tokens)"
    assert error_message(resp(403, {"error": "PermissionDenied", "detail": "missing permission: keys:admin",
                                    "missing_permission": "keys:admin"})).startswith("HTTP 403 PermissionDenied")
    assert error_message(resp(405, {"detail": "Method Not Allowed"})) == "HTTP 405: Method Not Allowed"
    assert error_message(resp(502, "<html>\nBad gateway</html>")) == "HTTP 502: <html>"

    api = ApiClient("http://127.0.0.1:9", "t")
    with pytest.raises(ApiError, match="cannot reach the CLARA API at http://127.0.0.1:9"):
        api.get("/health")
    api.close()


def test_demo_runs_jobs_demo_and_passes_its_exit_status(monkeypatch):
    assert demo_cmd.demo_command(True, 8100)[1:] == ["-m", "jobs.demo", "--keep-running", "--port", "8100"]
    assert demo_cmd.demo_command(False, None)[1:] == ["-m", "jobs.demo"]
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    env = demo_cmd.demo_env()
    assert env["HF_HUB_OFFLINE"] == "1" and env["RAY_AUTH_MODE"] == "token"  # the caller's settings win
    calls = []
    monkeypatch.setattr(demo_cmd.subprocess, "call", lambda cmd, env: calls.append(cmd) or 3)
    r = CliRunner().invoke(app, ["demo", "--port", "8100"])
    assert r.exit_code == 3 and "the demo exited with status 3" in r.stderr and calls[0][-2:] == ["--port", "8100"]


def test_help_lists_every_command_group():
    out = CliRunner().invoke(app, ["--help"]).stdout
    for name in ("train", "chat", "demo", "jobs", "adapters", "feedback", "keys"):
        assert name in out
