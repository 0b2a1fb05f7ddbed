"""The QA and supervisor views (story, supervisor, coverage, what-if), gathered
so the app registers them with one line."""

from __future__ import annotations

from console import coverage_page, story_page, supervisor_page, whatif_page
from console.routes import Route

ROUTES: list[Route] = [
    *story_page.ROUTES,
    *whatif_page.ROUTES,
    *supervisor_page.ROUTES,
    *coverage_page.ROUTES,
]
