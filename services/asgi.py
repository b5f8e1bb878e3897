"""The app object uvicorn serves: `uvicorn services.asgi:app`."""

from services.app import create_app, tune_collector

app = create_app()
tune_collector()
