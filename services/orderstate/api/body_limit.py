"""Refuse request bodies over the limit with 413, before the handler reads them.

A body with a Content-Length over the limit is refused at once. A body without one (chunked
transfer encoding) is read here, up to the limit, and handed on whole: refused with 413 the
moment it passes the limit, exactly like a sized one. Refusing it inside the handler instead
would surface as FastAPI's own 400 "error parsing the body", outside the problem contract.
"""

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderstate.api.problems import ApiCode, problem_title, problem_type

__all__ = ["BodyLimit"]


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            # The server holds a sized body to its Content-Length.
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._refuse(scope, send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the application see it as usual.
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": problem_type(ApiCode.PAYLOAD_TOO_LARGE),
                "title": problem_title(ApiCode.PAYLOAD_TOO_LARGE),
                "status": 413,
                "detail": f"the request body is over {self.max_bytes} bytes",
                "code": ApiCode.PAYLOAD_TOO_LARGE.value,
                "instance": scope.get("path"),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    # The rest of the body is never read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
