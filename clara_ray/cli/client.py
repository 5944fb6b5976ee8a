"""Small httpx client of the CLARA API that turns every failure (HTTP error, unreachable server) into one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiError(Exception):
    """A request that did not succeed; `str(e)` is the one-line message shown to the user."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _describe_detail(detail: Any) -> str:
    """The API's `detail`: a string, or a validation list of {field, message} (FastAPI's raw {loc, msg} too)."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                field = item.get("field")
                if field is None and isinstance(item.get("loc"), list):
                    field = ".".join(str(p) for p in item["loc"] if p != "body")
                message = item.get("message") or item.get("msg") or json.dumps(item)
                parts.append(f"{field}: {message}" if field else str(message))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict):
        return json.dumps(detail)
    return str(detail)


def _stream_error(event: dict) -> str:
    """An error sent inside an event stream: `{"error": "<Class>", "detail"}` or OpenAI's `{"error": {"message"}}`."""
    err = event["error"]
    if isinstance(err, dict):
        return str(err.get("message") or json.dumps(err))
    return f"{err}: {_describe_detail(event['detail'])}" if event.get("detail") else str(err)


def error_message(response: httpx.Response) -> str:
    """One line from an error response: native `{"error", "detail"}`, OpenAI `{"error": {"message", ...}}` or text."""
    status = f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip().splitlines()[0] if response.text.strip() else response.reason_phrase
        return f"{status}: {text}"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):  # OpenAI shape (the /v1 routes)
            kind = err.get("type") or err.get("code")
            message = err.get("message") or json.dumps(err)
            param = f" (param {err['param']})" if err.get("param") else ""
            return f"{status} {kind}: {message}{param}" if kind else f"{status}: {message}{param}"
        if "detail" in body:
            detail = _describe_detail(body["detail"])
            missing = f" (missing permission {body['missing_permission']})" if body.get("missing_permission") else ""
            return f"{status} {err}: {detail}{missing}" if isinstance(err, str) else f"{status}: {detail}{missing}"
        if isinstance(err, str):
            return f"{status}: {err}"
    return f"{status}: {json.dumps(body)[:300]}"


class ApiClient:
    """The CLARA API at `url`. `http` (tests: a `fastapi.testclient.TestClient`) replaces the network client."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, *, http: httpx.Client | None = None,
                 timeout: float = 60.0):
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._owned = http is None
        self._http = http if http is not None else httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plain JSON requests ---------------------------------------------------------------------------------
    def get(self, path: str, params: dict | list | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def delete(self, path: str, params: dict | None = None) -> Any:
        return self.request("DELETE", path, params=params)

    def request(self, method: str, path: str, *, body: Any = None, params: dict | list | None = None) -> Any:
        with self._guard():
            response = self._http.request(method, path, json=body, params=params, headers=self._headers)
        if response.is_error:
            raise ApiError(error_message(response), response.status_code)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(f"{method} {path}: the API answered with non-JSON content") from None

    # ---- streams ---------------------------------------------------------------------------------------------
    def stream_events(self, path: str, body: Any) -> Iterator[dict]:
        """POST `body` and yield each server-sent `data: {...}` event until `data: [DONE]`."""
        with self._guard():
            with self._http.stream("POST", path, json=body, headers=self._headers) as response:
                if response.is_error:
                    response.read()
                    raise ApiError(error_message(response), response.status_code)
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[len("data:"):].strip()
                    if data == "[DONE]":
                        return
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise ApiError(f"{path}: malformed event in the stream: {data[:120]}") from None
                    if isinstance(event, dict) and event.get("error"):
                        raise ApiError(f"the answer stream broke off: {_stream_error(event)}")
                    yield event

    def download(self, path: str, dest: Path) -> tuple[Path, int]:
        """GET a file. `dest`: a file path, or an existing folder (the server's filename is kept). -> (path, bytes)."""
        with self._guard():
            with self._http.stream("GET", path, headers=self._headers) as response:
                if response.is_error:
                    response.read()
                    raise ApiError(error_message(response), response.status_code)
                target = dest / _filename(response, path) if dest.is_dir() else dest
                size = 0
                partial = target.with_name(target.name + ".part")
                try:
                    with partial.open("wb") as f:
                        for chunk in response.iter_bytes():
                            f.write(chunk)
                            size += len(chunk)
                except OSError as e:
                    partial.unlink(missing_ok=True)
                    raise ApiError(f"cannot write {target}: {e.strerror or e}") from None
                partial.replace(target)
        return target, size

    # ---- failures --------------------------------------------------------------------------------------------
    def _guard(self) -> "_TransportGuard":
        return _TransportGuard(self.url)


def _filename(response: httpx.Response, path: str) -> str:
    disposition = response.headers.get("content-disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            name = Path(value.strip('"')).name
            if name:
                return name
    return Path(path).name or "download"


class _TransportGuard:
    """Context manager: network failures become an ApiError that says how to point the CLI at the API."""

    def __init__(self, url: str):
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or not isinstance(exc, httpx.TransportError):
            return False
        if isinstance(exc, httpx.TimeoutException):
            raise ApiError(f"the CLARA API at {self.url} did not answer in time ({type(exc).__name__})") from None
        if isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol)):
            raise ApiError(f"cannot reach the CLARA API at {self.url}: is it running? (set --url or CLARA_URL)") \
                from None
        raise ApiError(f"the connection to the CLARA API at {self.url} failed: {exc or type(exc).__name__}") from None
