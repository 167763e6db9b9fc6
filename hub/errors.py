"""The hub's refusals: requests turned away before GraphQL execution, as coded GraphQL-style errors."""

from __future__ import annotations

from starlette.responses import JSONResponse


class Refusal(Exception):
    """Refuse a request with an HTTP status, a GraphQL error `code` and optional headers."""

    def __init__(self, message: str, code: str, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"errors": [{"message": self.message, "extensions": {"code": self.code}}]}
        return JSONResponse(body, self.status, headers=self.headers)
