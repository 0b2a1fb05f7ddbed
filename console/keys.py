"""The application's shared parts, keyed once, so handlers in any layer reach
them without importing each other (the call registry, the storage service)."""

from __future__ import annotations

from aiohttp import web

from callcore.registry import CallRegistry
from storage.service import StorageService

REGISTRY = web.AppKey("registry", CallRegistry)
STORAGE = web.AppKey("storage", StorageService)
