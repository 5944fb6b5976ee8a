"""Benchmark the feedback screen's relevance measures side by side: how each separates a Baurecht alias's new
feedback from other domains, off-domain and random text, and how many samples per second each scores.

Run: `python -m bench.bench_feedback_screen [--no-embedding]`. The reference is the demo's initial data (170
Baurecht Q&A); the groups are the bundled corpus and its off-domain samples. No Ray.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def groups() -> dict[str, list[str]]:
    from clara_ray.resources import load_jsonl, offdomain_path, qa_path

    qa = load_jsonl(qa_path())
    off = load_jsonl(offdomain_path())

    def text(rows):
        return [r["prompt"] + "\n" + r["response"] for r in rows]

    def odd(p):
        return sum(not (c.isalnum() or c.isspace()) for c in p) / len(p) > 0.15

    bau = [r for r in qa if r["domain"] == "baurecht"]
    return {
        "reference (alias data)": text(bau[:170]),
        "new Baurecht Q&A": text(bau[170:250]),
        "Steuerrecht Q&A": text([r for r in qa if r["domain"] == "steuerrecht"][:80]),
        "Sozialrecht Q&A": text([r for r in qa if r["domain"] == "sozialrecht"][:80]),
        "German recipes": text([r for r in off if r["prompt"].startswith(("Wie koche", "Was brauche", "Hast du"))]),
        "German football": text([r for r in off if r["prompt"].startswith("Wie ist das Spiel")]),
        "English marketing": text([r for r in off if r["prompt"].startswith(
            ("What is the best", "Tell me", "Any special", "Why should", "How can I"))]),
        "random characters": text([r for r in off if odd(r["prompt"])]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-embedding", action="store_true", help="only the lexical measure")
    args = p.parse_args()

    from clara_ray.config import load_settings
    from clara_ray.learning.relevance import EmbeddingIndex, LexicalIndex

    g = groups()
    ref = g.pop("reference (alias data)")
    builders = {"lexical": LexicalIndex}
    if not args.no_embedding:
        from clara_ray.datasets.embedding import shared_embedder

        c = load_settings().datasets
        model = shared_embedder(c.embedding_model, c.embedding_max_tokens, c.embedding_batch_size,
                                c.embedding_threads)
        builders["embedding"] = lambda texts: EmbeddingIndex(texts, model.embed)
    rows: dict[str, dict[str, str]] = {k: {} for k in g}
    speed: dict[str, float] = {}
    for name, build in builders.items():
        index = build(ref)
        index.similarity(ref[:4])  # warm
        scored, seconds = 0, 0.0
        for group, texts in g.items():
            t0 = time.perf_counter()
            sims = sorted(float(x) for x in index.similarity(texts))
            seconds += time.perf_counter() - t0
            scored += len(texts)
            rows[group][name] = f"{sims[0]:.3f} / {sims[len(sims) // 2]:.3f} / {sims[-1]:.3f}"
        speed[name] = scored / seconds
    names = list(builders)
    print("| group (n) | " + " | ".join(f"{n}: min / median / max" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for group, texts in g.items():
        print(f"| {group} ({len(texts)}) | " + " | ".join(rows[group][n] for n in names) + " |")
    print("| samples/s | " + " | ".join(f"{speed[n]:,.0f}" for n in names) + " |")
    if "embedding" in speed:
        print(f"lexical / embedding speed: {speed['lexical'] / speed['embedding']:.1f}x")


if __name__ == "__main__":
    main()
