"""The one typed way to reach the services an app was built with."""

from __future__ import annotations

from flask import Flask, current_app

from ai_backends.services import Services

SERVICES_KEY = "ai_backends.services"


def services_of(app: Flask) -> Services:
    """The ``Services`` that ``app`` was built with (see ``create_app``)."""
    found: Services = app.extensions[SERVICES_KEY]
    return found


def services() -> Services:
    """The ``Services`` of the app handling the current request."""
    return services_of(current_app)
