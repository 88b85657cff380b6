"""Flask's JSON answers encoded by orjson (`shared.fastjson`): the same JSON as Flask's own
provider gives, keys in insertion order, compact; non-ASCII characters as UTF-8 rather
than \\u escapes. Request bodies are still parsed by `api.validation`."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.json.provider import DefaultJSONProvider

from shared import fastjson


class FastJSONProvider(DefaultJSONProvider):
    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return fastjson.dumps(obj, self.default).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = fastjson.dumps(self._prepare_response_obj(args, kwargs), self.default)
        return Response(body + b"\n", mimetype=self.mimetype)
