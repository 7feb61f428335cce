"""The relying parties' check (`POST /api/v1/checks`) without FastAPI's per-request work.

A check is the service's hot path: thousands a second, each a binary search and a row in
the check log. Through FastAPI's routing, dependency injection, pydantic validation of
the body and of the answer (`response_model`) it cost about 1 ms of CPU, most of the
server's time. This ASGI layer answers the ordinary case itself, with exactly the route's
rules, and hands everything else to the application unchanged (the body replayed), so
every refusal (401, 403, 404, 422) keeps one implementation, the route's:

* answered here only when: the path and method are the check's, the body is JSON (by its
  content type) and an object whose `snils` and `context` are strings within the model's
  lengths, the bearer key is one the application already recognised (its grant cached by
  the key's sha256, by `app.org_grant`), the context is in the key's scope and the SNILS
  is in the register;
* the answer has the fields of `CheckAnswer`, in its order, and is sent only once the
  check is committed to the hash-chained log (the same `Service.start_check`);
* it sits inside `HeadersAndLog`, so the security headers and the log line (the route's
  template, never the SNILS) are the same as the route's.
"""

from __future__ import annotations

import asyncio
import json

from ..store import access
from .service import SYNTHETIC_NOTE, Service, parse_snils

PATH = "/api/v1/checks"
MAX_BODY = 4096  # a check's body is ~60 bytes; anything bigger goes to the route (and its limits)


class _Route:
    path = PATH  # what HeadersAndLog logs: the template, as for the route


class FastCheck:
    """Pure ASGI middleware answering well-formed checks by known keys (see the module)."""

    def __init__(self, app, fastapi_app):
        self.app = app
        self.fastapi_app = fastapi_app
        fastapi_app.state.fast_checks = 0  # how many checks this layer answered (tests, benchmarks)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":  # the client went away: let the app see it as it would
                return await self.app(scope, _replay(body, receive, msg), send)
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > MAX_BODY:
                return await self.app(scope, _replay(body, receive, more=more), send)
        answer = await self._answer(scope, body)
        if answer is None:
            return await self.app(scope, _replay(body, receive), send)
        scope["route"] = _Route
        self.fastapi_app.state.fast_checks += 1
        data = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    async def _answer(self, scope, body: bytes) -> dict | None:
        headers = dict(scope["headers"])  # ASGI names are lower-case bytes
        if len(headers) != len(scope["headers"]):
            return None  # a repeated header: the route decides what it means
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        auth = headers.get(b"authorization", b"")
        if ctype != b"application/json" or not auth.startswith(b"Bearer "):
            return None
        try:
            req = json.loads(body)
            key = auth[7:].decode("latin-1").strip()
        except ValueError:
            return None
        if type(req) is not dict:
            return None
        snils_text, context = req.get("snils"), req.get("context")
        if type(snils_text) is not str or type(context) is not str or len(snils_text) > 20 or len(context) > 40:
            return None
        state = self.fastapi_app.state
        grant: access.Grant | None = state.org_cache.get(access.key_hash(key))
        if grant is None or context not in grant.contexts:
            return None
        svc: Service = state.svc
        snils = parse_snils(snils_text)
        cid = svc.citizen_for_snils(snils) if snils is not None else None
        if cid is None:
            return None
        answer, fut = svc.start_check(grant, cid, context)
        check_id, h = await asyncio.wrap_future(fut)  # answered once the log has it
        return {"check_id": check_id, "checked_at": answer["checked_at"], "context": context,
                "as_of": svc.snap.as_of.isoformat(), "decision": answer["decision"],
                "reason_code": answer["reason_code"], "consequences": answer["consequences"],
                "log_hash": h, "synthetic": True, "note": SYNTHETIC_NOTE}


def _replay(body: bytes, receive, last: dict | None = None, *, more: bool = False):
    """A `receive` giving the application the body already read, then the connection's own
    messages (the rest of the body, or its end) as they come."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        if last is not None:
            return last
        return await receive()

    return replay
