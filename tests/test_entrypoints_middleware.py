"""Code that runs on every request without being a route: FastAPI dependencies and middleware."""

from __future__ import annotations

from tests.test_entrypoints import summary


def test_fastapi_dependencies_take_their_handlers_route_and_runtime() -> None:
    found = summary(
        """
        from typing import Annotated

        from fastapi import Depends, FastAPI, Security

        app = FastAPI()

        async def current_user(token: str): ...

        def quota(user=Depends(current_user)): ...

        def audit(): ...

        def scopes(): ...

        def unused(): ...

        @app.post("/reports", dependencies=[Depends(audit)])
        async def create_report(q: Annotated[int, Depends(quota)], s=Security(scopes)): ...
        """
    )
    assert found == {
        "create_report": ("http", "event-loop", "POST /reports", "fastapi"),
        # Sync dependencies run on FastAPI's thread pool, async ones on the loop; nested ones too.
        "audit": ("http", "thread-pool", "POST /reports", "fastapi"),
        "quota": ("http", "thread-pool", "POST /reports", "fastapi"),
        "scopes": ("http", "thread-pool", "POST /reports", "fastapi"),
        "current_user": ("http", "event-loop", "POST /reports", "fastapi"),
    }


def test_a_dependency_shared_by_two_routes_takes_the_first_routes_reading() -> None:
    found = summary(
        """
        from fastapi import Depends, FastAPI

        app = FastAPI()

        def limiter(): ...

        @app.get("/a")
        def first(_=Depends(limiter)): ...

        @app.get("/b")
        def second(_=Depends(limiter)): ...
        """
    )
    assert found["limiter"][:2] == ("http", "thread-pool")
    assert found["limiter"][2] in ("GET /a", "GET /b")


def test_django_asgi_and_starlette_middleware_run_on_every_request() -> None:
    found = summary(
        """
        from django.utils.deprecation import MiddlewareMixin
        from starlette.middleware.base import BaseHTTPMiddleware

        class Throttle:
            def __init__(self, get_response):
                self.get_response = get_response

            def __call__(self, request):
                return self.get_response(request)

        class AsyncThrottle:
            def __init__(self, get_response):
                self.get_response = get_response

            async def __call__(self, request):
                return await self.get_response(request)

        class Legacy(MiddlewareMixin):
            def process_request(self, request): ...

            def helper(self): ...

        class RawAsgi:
            def __init__(self, app):
                self.app = app

            async def __call__(self, scope, receive, send):
                await self.app(scope, receive, send)

        class Timing(BaseHTTPMiddleware):
            async def dispatch(self, request, call_next):
                return await call_next(request)

        class NotMiddleware:
            def __call__(self, value):
                return value
        """
    )
    assert found == {
        "Throttle.__call__": ("middleware", "processes", None, "django"),
        "AsyncThrottle.__call__": ("middleware", "event-loop", None, "django"),
        "Legacy.process_request": ("middleware", "processes", None, "django"),
        "RawAsgi.__call__": ("middleware", "event-loop", None, "asgi"),
        "Timing.dispatch": ("middleware", "event-loop", None, "starlette"),
    }
