"""The authentication service (FastAPI on uvicorn) and its webcam page."""
