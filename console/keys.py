"""The application's shared parts, keyed once, so handlers in any layer reach
them without importing each other (the call registry, the storage service)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from callcore.registry import CallRegistry
from policy import Config
from storage.service import StorageService

REGISTRY = web.AppKey("registry", CallRegistry)
STORAGE = web.AppKey("storage", StorageService)

# The policy in force (a callable: it follows hot reloads); absent when the
# service runs without one.
POLICY: web.AppKey[Callable[[], Config]] = web.AppKey("policy")
