"""ASGI middleware of the api."""
