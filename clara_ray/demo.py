"""The demo scenario over the HTTP API: train an adapter, serve it, then good and poisoned feedback through the gate.

Driven by `jobs/demo.py` (which starts Ray and the Serve app) and reused by `bench/bench_learning.py`.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

from clara_ray.config import ClaraSettings, load_settings

# Only the loop's triggers are sized for a short demo (a cycle per step, no time trigger in between); the recipe
# (learning rate, epochs) and the gate run on the shipped defaults (configs/clara.yaml, training/recipe.py).
DEMO_OVERRIDES = {"learning": {"min_batch_size": 20, "train_interval_seconds": 3600}}
DEMO_FOLDER = "demo"  # under storage.data_dir: what one demo run made, emptied when the next one starts


def demo_settings() -> ClaraSettings:
    """The demo's settings: the shipped configuration plus DEMO_OVERRIDES, in `<data_dir>/demo`, emptied first so
    every run shows the same loop (a re-run's feedback would otherwise be answered as already stored, and no cycle
    would start); the base-model cache stays the shared one. Raises ConfigError."""
    shared = load_settings(**DEMO_OVERRIDES)
    root = shared.storage.data_dir / DEMO_FOLDER
    shutil.rmtree(root, ignore_errors=True)
    return load_settings(**DEMO_OVERRIDES, storage={"data_dir": str(root)},
                         model={"cache_dir": str(shared.model_cache_dir)})
QUESTION = "Brauche ich für einen Carport im Außenbereich eine Baugenehmigung?"


_terminal: TextIO | None = None  # where the demo's own lines go; None = sys.stdout (jobs/demo.py sets the terminal)


def use_terminal(stream: TextIO | None) -> None:
    """Send the demo's progress lines to `stream` (the real terminal while stdout/stderr go to the log file)."""
    global _terminal
    _terminal = stream


def show(line: str) -> None:
    """One line of the demo's own output."""
    print(line, file=_terminal or sys.stdout, flush=True)


def say(msg: str) -> None:
    show(f"[{time.strftime('%H:%M:%S')}] {msg}")


def follow_job(client, job_id: str, timeout: float = 900) -> dict:
    """Print the job's progress as it changes, until it finishes."""
    deadline, last = time.time() + timeout, ""
    while time.time() < deadline:
        v = client.get(f"/api/training/jobs/{job_id}").json()
        m = v.get("metrics") or {}
        line = f"    job {job_id[:8]} {v['status']:<9} step {v['step']}/{v['total_steps'] or '?'}"
        line += f"  loss {m['loss']:.3f}" if "loss" in m else ""
        line += f"  val ppl {m['perplexity']:.2f}" if "perplexity" in m else ""
        if line != last:
            show(line)
            last = line
        if v["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return v
        time.sleep(1)
    raise TimeoutError(f"job {job_id} did not finish in {timeout}s")


def follow_cycle(client, alias: str, known: set[str], timeout: float = 900) -> dict:
    """Wait for the next learning cycle of `alias`, following its training job."""
    deadline, followed = time.time() + timeout, False
    while time.time() < deadline:
        items = client.get("/api/learning/cycles", params={"adapter": alias}).json()["items"]
        new = [c for c in items if c["cycle_id"] not in known]
        if new:
            c = new[-1]
            if c["job_id"] and not followed:
                say(f"  cycle {c['cycle_id'][:8]} ({c['trigger']} trigger, {c['samples']} samples) -> "
                    "CONTINUOUS training job")
                follow_job(client, c["job_id"])
                followed = True
            if c["status"] != "running":
                return c
        time.sleep(1)
    raise TimeoutError("no learning cycle finished in time")


def ask(client, alias: str) -> dict:
    r = client.post("/v1/chat/completions", json={"model": alias, "max_tokens": 40,
                                                  "messages": [{"role": "user", "content": QUESTION}]}).json()
    active = client.get("/api/serving/adapters/list").json()["aliases"].get(alias)
    return {"version": active, "text": r["choices"][0]["message"]["content"]}


def write_demo_data(root: Path) -> tuple[Path, list[dict], list[dict]]:
    """Initial training data (170 Baurecht Q&A), held-back good feedback (40) and poisoned feedback."""
    from clara_ray.resources import load_jsonl, offdomain_path, qa_path

    bau = [r for r in load_jsonl(qa_path()) if r["domain"] == "baurecht"]
    root.mkdir(parents=True, exist_ok=True)
    initial = root / "baurecht-initial.jsonl"
    initial.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in bau[:170]), encoding="utf-8")
    good = [{"prompt": r["prompt"], "response": r["response"], "correction": r["response"], "rating": 1.0,
             "adapter": "baurecht", "source": "demo-reviewer"} for r in bau[170:210]]
    poison = [{"prompt": r["prompt"], "response": r["response"], "rating": 1.0, "importance": 5.0,
               "adapter": "baurecht", "source": "demo-attacker"} for r in load_jsonl(offdomain_path())]
    return initial, good, poison


def refusals(results: list[dict]) -> str:
    """Why the filter refused samples, counted by code (off_domain, repetitive, poor_text, evaluation_record...)."""
    kinds: dict[str, int] = {}
    for r in results:
        if r["status"] == "rejected" and r.get("reason_code"):
            kinds[r["reason_code"]] = kinds.get(r["reason_code"], 0) + 1
    if not kinds:
        return ""
    return " (" + ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])) + ")"


def run_demo(client, settings, summary: list[str]) -> int:
    from clara_ray.resources import documents_path

    initial, good, poison = write_demo_data(settings.storage.data_dir / "demo")
    say("0/4 indexing the bundled documents (Ray Data: chunk, embed, extract entities) for the Dataset Explorer")
    corpus = client.post("/api/datasets/corpus/ingest", json={"paths": [str(documents_path())]})
    if corpus.status_code != 200:
        say(f"indexing failed: {corpus.text}")
        return 1
    stats = client.get("/api/datasets/corpus").json()
    summary.append(f"corpus    {stats['documents']} documents, {stats['chunks']} chunks in the vector, graph and "
                   "keyword stores")
    say("1/4 training the initial 'baurecht' LoRA adapter (a warm trainer; larger jobs: Ray Data prep -> Ray Train)")
    job = client.post("/api/training/jobs", json={
        "name": "baurecht", "trainer_type": "LORA", "data_paths": [str(initial)], "domain": "baurecht",
        "epochs": 3, "learning_rate": 3e-3, "activate": "always",
        "description": "Baurecht: BauGB, Bauordnung, Baugenehmigung, Bebauungsplan"}).json()
    done = follow_job(client, job["job_id"])
    if done["status"] != "COMPLETED":
        say(f"training failed: {done['error']}")
        return 1
    m = done["metrics"]
    summary.append(f"initial   {m['adapter']}: validation perplexity {m['ppl_before']:.2f} (base) -> "
                   f"{m['ppl_after']:.2f}  [{m['adapter_uri']}]")

    say("2/4 serving it (multi-LoRA replica, OpenAI-compatible API)")
    first = ask(client, "baurecht")
    say(f"  {first['version']}: {QUESTION!r} -> {first['text'][:120]!r}")

    for label, items, expect in (("good reviewer feedback", good, "promoted"),
                                 ("poisoned off-domain feedback", poison, "rejected")):
        step = "3/4" if expect == "promoted" else "4/4"
        known = {c["cycle_id"] for c in client.get("/api/learning/cycles").json()["items"]}
        res = client.post("/api/feedback/batch", json={"items": items}).json()
        queued = sum(r["status"] == "queued" for r in res["results"])
        held = sum(r["status"] == "held_out" for r in res["results"])
        say(f"{step} sending {len(items)} samples of {label}: {queued} queued for training, {held} held out for "
            f"evaluation, {res['rejected']} refused by the quality filter{refusals(res['results'])}")
        if queued == 0:
            note = "" if expect == "rejected" else f"  (expected {expect})"
            summary.append(f"cycle     {'refused':<9} ({label}: none queued, {res['rejected']} refused before "
                           f"training{refusals(res['results'])}){note}")
            continue
        if queued < settings.learning.min_batch_size:  # too few for the size trigger: start the cycle now
            client.post("/api/learning/trigger", json={"adapter": "baurecht"})
        c = follow_cycle(client, "baurecht", known)
        b, a = c["metrics_before"], c["metrics_after"]
        say(f"  gate: {c['status'].upper()} - {c['reason']}")
        now = ask(client, "baurecht")
        say(f"  serving {now['version']}: {now['text'][:120]!r}")
        summary.append(f"cycle     {c['status']:<9} ({c['samples']} samples): val ppl {b.get('val_ppl', 0):.3f} -> "
                       f"{a.get('val_ppl', 0):.3f}, regression {b.get('regression_ppl', 0):.3f} -> "
                       f"{a.get('regression_ppl', 0):.3f}, KL {a.get('kl', 0):.4f}; serving {now['version']}"
                       f"{'' if c['status'] == expect else '  (expected ' + expect + ')'}")
    versions = client.get("/api/serving/adapters/list").json()["versions"]
    summary.append("versions  " + ", ".join(f"{v['ref']} [{v['status']}]" for v in versions if v["name"] == "baurecht"))
    return 0
