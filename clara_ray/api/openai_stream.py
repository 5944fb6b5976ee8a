"""OpenAI response bodies: final choices, logprobs in both OpenAI layouts, and the server-sent-event stream of chunks."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi.responses import StreamingResponse

from clara_ray.api.errors import STATUS_BY_ERROR, message_of
from clara_ray.serving.engine import StreamChunk, TokenLogprob
from clara_ray.wire_errors import openai_error

log = logging.getLogger("clara.api")


def chat_logprobs(lps: list[TokenLogprob] | None) -> dict | None:
    """Chat layout: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}."""
    if lps is None:
        return None
    return {"content": [{"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode()),
                         "top_logprobs": [{"token": a.token, "logprob": a.logprob, "bytes": list(a.token.encode())}
                                          for a in t.top_logprobs]} for t in lps]}


def text_logprobs(lps: list[TokenLogprob] | None, offset: int = 0) -> dict | None:
    """Legacy completions layout: parallel lists, `text_offset` counting characters from the start of the text."""
    if lps is None:
        return None
    offsets, at = [], offset
    for t in lps:
        offsets.append(at)
        at += len(t.token)
    return {"tokens": [t.token for t in lps], "token_logprobs": [t.logprob for t in lps],
            "top_logprobs": [{a.token: a.logprob for a in t.top_logprobs} for t in lps], "text_offset": offsets}


@dataclass(frozen=True)
class Shape:
    """What every body of one response shares."""

    id: str
    object: str  # chat.completion | text_completion
    created: int
    model: str  # as the client named it

    def head(self, version: str, *, chunk: bool = False) -> dict:
        kind = "chat.completion.chunk" if chunk and self.object == "chat.completion" else self.object
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model,
                "system_fingerprint": version}

    def final_choice(self, index: int, text: str, finish_reason: str, logprobs, *, chat: bool) -> dict:
        if chat:
            return {"index": index, "message": {"role": "assistant", "content": text},
                    "logprobs": chat_logprobs(logprobs), "finish_reason": finish_reason}
        return {"index": index, "text": text, "logprobs": text_logprobs(logprobs), "finish_reason": finish_reason}


@dataclass
class Choice:
    """One streamed choice: its index and its chunks (the last one carries finish_reason and token counts)."""

    index: int
    chunks: AsyncIterator[StreamChunk]
    chars: int = 0  # text streamed so far (legacy logprobs' text_offset)


_END = object()


async def _merged(choices: list[Choice]) -> AsyncIterator[tuple[Choice, StreamChunk]]:
    """Chunks of all choices as they come (n > 1 decode concurrently); the first failure stops the rest."""
    if len(choices) == 1:
        async for c in choices[0].chunks:
            yield choices[0], c
        return
    queue: asyncio.Queue = asyncio.Queue()

    async def pump(choice: Choice) -> None:
        try:
            async for c in choice.chunks:
                await queue.put((choice, c))
        except Exception as e:  # noqa: BLE001 - handed to the consumer
            await queue.put((choice, e))
        finally:
            await queue.put((choice, _END))

    tasks = [asyncio.create_task(pump(c)) for c in choices]
    try:
        live = len(tasks)
        while live:
            choice, item = await queue.get()
            if item is _END:
                live -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield choice, item
    finally:
        for t in tasks:
            t.cancel()


def _error_event(exc: Exception) -> dict:
    status = next((s for t, s in STATUS_BY_ERROR if isinstance(exc, t)), 500)
    if status == 500:
        log.error("stream failed", exc_info=exc)
        return openai_error(500, "internal error; see server logs")
    return openai_error(status, message_of(exc), code=type(exc).__name__)


def sse_response(choices: list[Choice], shape: Shape, version: str, include_usage: bool, *, chat: bool,
                 per_prompt: int, headers: dict) -> StreamingResponse:
    """OpenAI's stream: `role` in each choice's first delta only, text deltas, a last chunk per choice with the true
    finish_reason, a usage chunk (`choices: []`) when asked, then `[DONE]`; a failure sends an error event.
    `per_prompt`: consecutive choices answering one prompt (`n`), whose prompt tokens count once in the usage."""

    def event(choice_list: list[dict], usage: dict | None = None) -> str:
        body = {**shape.head(version, chunk=True), "choices": choice_list}
        if include_usage:
            body["usage"] = usage
        return f"data: {json.dumps(body)}\n\n"

    def piece(choice: Choice, chunk: StreamChunk) -> dict:
        if chat:
            delta = {"content": chunk.text} if chunk.text else {}
            out = {"index": choice.index, "delta": delta, "logprobs": chat_logprobs(chunk.logprobs),
                   "finish_reason": chunk.finish_reason}
        else:
            out = {"index": choice.index, "text": chunk.text, "logprobs": text_logprobs(chunk.logprobs, choice.chars),
                   "finish_reason": chunk.finish_reason}
        choice.chars += len(chunk.text)
        return out

    async def events():
        prompt_tokens, completion_tokens = {}, 0
        try:
            if chat:
                yield event([{"index": c.index, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                              "finish_reason": None} for c in choices])
            async for choice, chunk in _merged(choices):
                if chunk.finish_reason is not None:
                    prompt_tokens[choice.index] = chunk.prompt_tokens
                    completion_tokens += chunk.completion_tokens
                if chunk.text or chunk.logprobs or chunk.finish_reason is not None:
                    yield event([piece(choice, chunk)])
            if include_usage:
                prompt = sum(prompt_tokens.get(i, 0) for i in range(0, len(choices), per_prompt))
                yield event([], {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                                 "total_tokens": prompt + completion_tokens})
        except Exception as e:  # noqa: BLE001 - the status line is long gone: tell the client in the stream
            yield f"data: {json.dumps(_error_event(e))}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
