"""The web console in headless Chromium against the session's real Serve app (Ray, training, serving, stores).

One user's path through it: search the corpus and make a dataset from the results, analyze and export it,
train an adapter on it and watch the job reach COMPLETED with the loss chart filling, then promote a second
version and roll it back, compare the two, try the adapter, and look at the learning loop. Screenshots of
each step land in test-artifacts/console/.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from clara_ray.resources import documents_path, load_jsonl, qa_path
from tests.browser import PageWatch, chromium, screenshot

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]

JOB_TIMEOUT_MS = 420_000


def wait_job(client, job_id: str) -> dict:
    import time

    deadline = time.time() + JOB_TIMEOUT_MS / 1000
    while time.time() < deadline:
        job = client.get(f"/api/training/jobs/{job_id}").json()
        if job["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return job
        time.sleep(1)
    raise TimeoutError(job_id)


def test_console_search_to_dataset_to_training_to_promotion(api_url, client, tmp_path):
    docs = [d for d in load_jsonl(documents_path()) if d["domain"] == "baurecht"][:30]
    r = client.post("/api/datasets/corpus/ingest", json={"documents": docs, "use_ray": False})
    assert r.status_code == 200, r.text

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        watch = PageWatch(page, api_url)
        page.set_default_timeout(60_000)
        page.goto(f"{api_url}/")  # redirects to the console; security mode off: no login
        page.get_by_test_id("who").wait_for()
        assert page.locator("header nav a").all_inner_texts() == ["Datasets", "Training", "Adapters", "Learning loop",
                                                                "Playground", "Completions"]

        # ---- Dataset Explorer: search, preview, create a dataset from the selection, analyze, export
        search = page.get_by_test_id("search")
        search.locator("input[name=query]").fill("Baugenehmigung Bebauungsplan")
        search.locator("select[name=domain]").select_option("baurecht")
        search.get_by_role("button", name="Search").click()
        rows = page.get_by_test_id("results").locator("tbody tr")
        rows.first.wait_for()
        assert rows.count() >= 5
        rows.first.click()
        page.get_by_test_id("preview").locator(".doc-text").wait_for()
        create = page.get_by_test_id("create-dataset")
        create.locator("input[name=dataset_name]").fill("console-ds")
        create.get_by_role("button", name="Create dataset").click()
        create.get_by_role("status").wait_for()
        assert create.get_by_role("status").inner_text().startswith("Created console-ds v1 with")
        ds_row = page.locator("tr[data-dataset=console-ds]")
        ds_row.get_by_role("button", name="Analyze").click()
        page.get_by_test_id("analysis").wait_for()
        assert "records" in page.get_by_test_id("analysis").inner_text()
        with page.expect_download() as download:
            ds_row.get_by_role("button", name="Export").click()
        assert download.value.suggested_filename.endswith(".jsonl")
        exported = download.value.path().read_text(encoding="utf-8").splitlines()
        assert len(exported) == int(ds_row.locator("td.num").inner_text())
        # A dataset from a file: a bad file is refused with the reason, a good one is registered.
        upload = page.get_by_test_id("upload-dataset")
        upload.locator("input[name=upload_name]").fill("console-upload")
        (tmp_path / "bad.jsonl").write_text('{"no_text_field": 1}\n', encoding="utf-8")
        upload.locator("input[name=file]").set_input_files(str(tmp_path / "bad.jsonl"))
        upload.get_by_role("button", name="Upload").click()
        upload.get_by_role("alert").wait_for()
        watch.errors.clear()  # the browser logs the 422 it was meant to get
        good = tmp_path / "qa.jsonl"
        good.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in load_jsonl(qa_path())[:25]),
                        encoding="utf-8")
        upload.locator("input[name=file]").set_input_files(str(good))
        upload.get_by_role("button", name="Upload").click()
        upload.get_by_role("status").wait_for()
        assert upload.get_by_role("status").inner_text() == "Uploaded console-upload v1 with 25 records"
        page.locator("tr[data-dataset=console-upload]").wait_for()
        screenshot(page, "1-dataset-explorer")

        # ---- Training Monitor: start a job on that dataset and watch it finish live
        page.goto(f"{api_url}/console/#/training")
        page.get_by_test_id("live").filter(has_text="live").wait_for()
        form = page.get_by_test_id("start-job")
        form.locator("input[name=name]").fill("console-lora")
        form.locator("select[name=dataset_id] option", has_text="console-ds v1").wait_for(state="attached")
        form.locator("select[name=dataset_id]").select_option(label=form.locator(
            "select[name=dataset_id] option", has_text="console-ds v1").inner_text())
        form.locator("input[name=epochs]").fill("2")
        form.get_by_role("button", name="Start training").click()
        form.get_by_role("status").wait_for()
        job_id = form.get_by_role("status").inner_text().split()[1]
        row = page.locator(f"tr[data-job='{job_id}']")
        row.and_(page.locator("[data-status=RUNNING]")).wait_for(timeout=JOB_TIMEOUT_MS)
        screenshot(page, "2-training-running")
        row.and_(page.locator("[data-status=COMPLETED]")).wait_for(timeout=JOB_TIMEOUT_MS)
        # The chart filled from live events: as many points as the job's stored curve.
        stored = client.get(f"/api/training/jobs/{job_id}/metrics").json()["points"]
        steps = sum(p["kind"] == "step" for p in stored)
        assert steps > 0
        expect(page.get_by_test_id("chart-loss")).to_have_attribute("data-points", str(steps), timeout=30_000)
        assert int(page.get_by_test_id("chart-perplexity").get_attribute("data-points")) >= 2
        assert "COMPLETED" in page.get_by_test_id("events").inner_text()
        screenshot(page, "3-training-completed")

        # A second version that is not served until someone promotes it.
        second = client.post("/api/training/jobs", json={"name": "console-lora", "dataset_id": _dataset_id(client),
                                                         "epochs": 1, "activate": "never"}).json()
        assert wait_job(client, second["job_id"])["status"] == "COMPLETED"

        # ---- Adapter Manager: promote v2, roll back to v1, compare, try it
        page.goto(f"{api_url}/console/#/adapters")
        active = page.get_by_test_id("active-console-lora")
        assert active.inner_text() == "console-lora@v1"
        page.get_by_test_id("activate-console-lora@v2").click()
        page.get_by_test_id("active-console-lora").filter(has_text="console-lora@v2").wait_for()
        assert client.get("/api/serving/adapters/list").json()["aliases"]["console-lora"] == "console-lora@v2"
        screenshot(page, "4-adapters-promoted")
        page.get_by_test_id("rollback-console-lora").click()
        page.get_by_test_id("active-console-lora").filter(has_text="console-lora@v1").wait_for()
        assert client.get("/api/serving/adapters/list").json()["aliases"]["console-lora"] == "console-lora@v1"
        page.get_by_test_id("compare-a").select_option("console-lora@v1")
        page.get_by_test_id("compare-b").select_option("console-lora@v2")
        assert "ppl_after" in page.get_by_test_id("compare").inner_text()
        try_it = page.get_by_test_id("try-it")
        try_it.locator("select[name=adapter]").select_option("console-lora")
        try_it.locator("textarea[name=prompt]").fill("Was regelt der Bebauungsplan?")
        try_it.get_by_role("button", name="Generate").click()
        page.get_by_test_id("output").wait_for()
        assert "console-lora@v1" in try_it.inner_text()
        screenshot(page, "5-adapters-rolled-back")

        # ---- Learning loop: a trigger without feedback is refused with the reason; with feedback it runs a
        # cycle, whose decision and reason appear live.
        page.goto(f"{api_url}/console/#/learning")
        page.get_by_test_id("pending-total").wait_for()
        trigger = page.get_by_test_id("trigger")
        trigger.locator("select[name=adapter] option", has_text="console-lora").wait_for(state="attached")
        trigger.locator("select[name=adapter]").select_option("console-lora")
        trigger.get_by_role("button", name="Trigger cycle").click()
        assert "no pending feedback" in trigger.get_by_role("alert").inner_text()
        qa = [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"][:12]
        items = [{"prompt": r["prompt"], "response": r["response"], "rating": 1.0, "adapter": "console-lora",
                  "source": "console-test"} for r in qa]
        results = client.post("/api/feedback/batch", json={"items": items}).json()["results"]
        # The corpus Q&A the adapter was evaluated on is refused (evaluation data is never trained on); a share of
        # the rest is held out for the gate. The cycle trains on what was queued.
        refused = [r["reason"] for r in results if not r["accepted"]]
        assert all("evaluation record" in reason for reason in refused), refused
        queued = sum(r["status"] == "queued" for r in results)
        assert queued >= 6, results
        trigger.get_by_role("button", name="Trigger cycle").click()  # well before the 20 s time trigger
        assert trigger.get_by_role("status").inner_text() == "Cycle requested for console-lora"
        decided = page.locator("[data-testid=cycles] tr[data-alias=console-lora]").and_(
            page.locator("[data-status=promoted], [data-status=rejected]"))
        decided.wait_for(timeout=JOB_TIMEOUT_MS)
        assert decided.locator("td").nth(2).inner_text() in ("promoted", "rejected")
        assert str(queued) == decided.locator("td").nth(3).inner_text()
        assert decided.locator("td").nth(6).inner_text() not in ("", "–")  # the gate's reason
        screenshot(page, "6-learning-loop")

        # The only console errors are the ones the steps provoked on purpose (the refused trigger's 409).
        assert [e for e in watch.errors if "409" not in e] == [], watch.errors
        assert not watch.foreign, watch.foreign


def _dataset_id(client) -> str:
    return client.get("/api/datasets", params={"name": "console-ds"}).json()["items"][0]["id"]
