"""The app object uvicorn serves: `uvicorn services.asgi:app`."""

import gc

from services.app import create_app

app = create_app()
# Python's collector was a fifth of the API's CPU and most of its slowest requests (bench/):
# everything imported so far lives as long as the process, so it is frozen out of the
# collector's sight, and the young generation is collected every 20,000 allocations rather
# than every 700 (a request allocates thousands of short-lived objects; reference counting
# frees them, the collector is only for cycles).
gc.freeze()
gc.set_threshold(20_000, 20, 100)
