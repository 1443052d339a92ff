"""The API on 127.0.0.1:5001: ``python app.py`` (development) or gunicorn ``app:app``."""

from ai_backends.api.app import create_app

app = create_app()

if __name__ == "__main__":
    app.run(host=app.config["HOST"], port=app.config["PORT"])
