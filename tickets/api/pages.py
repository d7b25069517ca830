"""The web front ends, served by the same process: supervisor dashboard, agent workspace, chat widget.

Pages are static files with no external assets (they work on an intranet without internet).
They authenticate by sending a token in the Authorization header from JavaScript, like any API
client; the pages themselves hold no data, so serving them needs no role.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

WEB = Path(__file__).resolve().parent.parent / "web"
router = APIRouter(include_in_schema=False)
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
# The pages may be framed only by the widget loader (any host site embeds the chat frame).
_PAGE_HEADERS = {**_HEADERS, "Content-Security-Policy": "default-src 'self'; frame-ancestors 'self'"}
_FRAME_HEADERS = {**_HEADERS, "Content-Security-Policy": "default-src 'self'; frame-ancestors *"}


def _file(name: str, headers: dict[str, str]) -> FileResponse:
    return FileResponse(WEB / name, headers=headers)


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    return _file("dashboard.html", _PAGE_HEADERS)


@router.get("/agent")
async def agent_workspace() -> FileResponse:
    return _file("agent.html", _PAGE_HEADERS)


@router.get("/widget.js")
async def widget_loader() -> FileResponse:
    return _file("widget.js", {**_HEADERS, "Access-Control-Allow-Origin": "*"})


@router.get("/widget/frame")
async def widget_frame() -> FileResponse:
    return _file("widget-frame.html", _FRAME_HEADERS)


@router.get("/widget/demo")
async def widget_demo() -> FileResponse:
    return _file("widget-demo.html", {**_HEADERS, "Content-Security-Policy": "default-src 'self'"})
