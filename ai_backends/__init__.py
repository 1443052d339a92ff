"""ai-backends-py: a reference AI back end (the core package behind app.py and the sidecars).

Importing the package is cheap: ``from ai_backends.api.app import create_app`` builds the API.
"""

__version__ = "0.1.0"
