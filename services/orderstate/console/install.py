"""Mounting the console on the REST API's application: its pages under /ui, its static files
(the vendored htmx, the style sheet) under /ui/static."""

from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from orderstate.console.routes import router
from orderstate.console.session import LoginRequired

__all__ = ["install_console"]

_STATIC = Path(__file__).parent / "static"


def install_console(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=_STATIC), name="console-static")
    app.add_exception_handler(LoginRequired, _to_login)


async def _to_login(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, LoginRequired):
        raise TypeError(f"registered for LoginRequired only, got {exc!r}")
    if request.headers.get("hx-request") == "true":
        # htmx follows a redirect inside the page it updates; this makes it load the login page.
        return Response(status_code=204, headers={"HX-Redirect": exc.login_url()})
    return RedirectResponse(exc.login_url(), status_code=303)
