"""The app object uvicorn serves: `uvicorn services.asgi:app`."""

from services.app import create_app

app = create_app()
