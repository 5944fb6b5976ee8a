"""`clara chat ALIAS`: multi-turn chat over /v1/chat/completions, printing tokens as they stream."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.text import Text

from clara_ray.cli.client import ApiClient, ApiError
from clara_ray.cli.context import JsonFlag, err, fail, print_json, state_of, wants_json

QUIT = {"/exit", "/quit", ":q"}


def stream_reply(api: ApiClient, body: dict, on_delta: Callable[[str], None]) -> tuple[str, str | None]:
    """Stream one answer; calls `on_delta` per chunk. -> (full text, finish reason)."""
    parts: list[str] = []
    finish: str | None = None
    for event in api.stream_events("/v1/chat/completions", {**body, "stream": True}):
        for choice in event.get("choices") or []:
            delta = (choice.get("delta") or {}).get("content") or ""
            if delta:
                parts.append(delta)
                on_delta(delta)
            finish = choice.get("finish_reason") or finish
    return "".join(parts), finish


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def chat(
    ctx: typer.Context,
    alias: Annotated[str, typer.Argument(help="Adapter alias (baurecht), version (baurecht@v3) or the base model.")],
    message: Annotated[str | None, typer.Option("--message", "-m",
                                                help="Send this one message, print the answer, exit "
                                                     "(no interactive prompt).")] = None,
    system: Annotated[str | None, typer.Option(help="System message opening the conversation.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Largest answer, in tokens.")] = 128,
    temperature: Annotated[float | None, typer.Option(min=0, max=5, help="0 = greedy; default: the model's.")]
    = None,
    json_out: JsonFlag = False,
) -> None:
    """Chat with an adapter; answers stream token by token. Type /exit (or Ctrl-D) to leave."""
    history: list[dict] = [{"role": "system", "content": system}] if system else []
    params = {"model": alias, "max_tokens": max_tokens,
              **({"temperature": temperature} if temperature is not None else {})}
    as_json = wants_json(ctx, json_out)
    with state_of(ctx).client() as api:
        if message is not None:
            history.append({"role": "user", "content": message})
            text, finish = stream_reply(api, {**params, "messages": history},
                                        (lambda d: None) if as_json else _write)
            if as_json:
                print_json({"model": alias, "content": text, "finish_reason": finish})
            else:
                _write("\n")
            return
        if as_json:
            fail("--json needs --message (one answer as JSON); the interactive chat prints text")
        err.print(f"chatting with {alias} at {api.url}; /exit or Ctrl-D to leave")
        while True:
            try:
                line = input("you> ")
            except (EOFError, KeyboardInterrupt):
                _write("\n")
                return
            if line.strip() in QUIT:
                return
            if not line.strip():
                continue
            history.append({"role": "user", "content": line})
            _write(f"{alias}> ")
            try:
                text, _ = stream_reply(api, {**params, "messages": history}, _write)
            except (ApiError, KeyboardInterrupt) as e:  # this turn is dropped; the conversation goes on
                history.pop()
                _write("\n")
                err.print(Text.assemble(("error: ", "bold red"), str(e) or "interrupted"))
                continue
            _write("\n")
            history.append({"role": "assistant", "content": text})
