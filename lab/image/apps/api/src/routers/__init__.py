"""HTTP routers mounted under /api."""
