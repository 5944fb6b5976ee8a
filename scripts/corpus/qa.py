"""Question/answer pairs: question templates x actors x situations x legal references x answer fragments."""

from __future__ import annotations

import random
from types import ModuleType

MIN_RESPONSE = 150
MAX_RESPONSE = 700


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fill(template: str, ctx: dict[str, str]) -> str:
    return template.format(**ctx)


def make_context(rng: random.Random, vocab: ModuleType, topic: dict) -> dict[str, str]:
    indef, definite = rng.choice(vocab.ACTORS)
    return {
        "actor": indef,
        "actor_def": definite,
        "Actor_def": _cap(definite),
        "actor_noun": definite.split(" ", 1)[1],
        "thing": topic["thing"],
        "ref": rng.choice(topic["refs"]),
        "situation": rng.choice(vocab.SITUATIONS),
        "kw": topic["kw"],
    }


def make_response(rng: random.Random, vocab: ModuleType, topic: dict, ctx: dict[str, str]) -> str:
    parts = [_fill(rng.choice(vocab.OPENERS), ctx)]
    n_core = rng.choice([1, 1, 1, 2])
    parts.extend(rng.sample(topic["core"], n_core))
    if rng.random() < 0.3:
        parts.append(rng.choice(vocab.PROCEDURE))
    closer = rng.choice(vocab.CLOSERS)
    if closer:
        parts.append(closer)
    # Keep within bounds: drop fragments from the middle until short enough, pad with a procedure hint.
    while len(" ".join(parts)) > MAX_RESPONSE and len(parts) > 2:
        parts.pop(len(parts) // 2)
    text = " ".join(parts)
    pool = [p for p in vocab.PROCEDURE if p not in parts]
    while len(text) < MIN_RESPONSE and pool:
        parts.insert(len(parts) - 1 if closer else len(parts), pool.pop(rng.randrange(len(pool))))
        text = " ".join(parts)
    return text


def make_prompt(rng: random.Random, vocab: ModuleType, ctx: dict[str, str]) -> str:
    return _fill(rng.choice(vocab.QUESTIONS), ctx)


def generate_domain(rng: random.Random, vocab: ModuleType, count: int) -> list[dict]:
    """Generate ``count`` records with unique prompts and unique responses for one domain."""
    records: list[dict] = []
    seen_prompts: set[str] = set()
    seen_responses: set[str] = set()
    attempts = 0
    while len(records) < count:
        attempts += 1
        if attempts > count * 200:
            raise RuntimeError(f"{vocab.DOMAIN}: vocabulary too small for {count} unique records")
        # Cycle through topics so every topic is covered evenly.
        topic = vocab.TOPICS[len(records) % len(vocab.TOPICS)]
        ctx = make_context(rng, vocab, topic)
        prompt = make_prompt(rng, vocab, ctx)
        response = make_response(rng, vocab, topic, ctx)
        if prompt in seen_prompts or response in seen_responses:
            continue
        if not MIN_RESPONSE <= len(response) <= MAX_RESPONSE:
            continue
        seen_prompts.add(prompt)
        seen_responses.add(response)
        records.append({"prompt": prompt, "response": response, "domain": vocab.DOMAIN})
    return records
