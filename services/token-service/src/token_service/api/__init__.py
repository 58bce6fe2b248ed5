"""HTTP layer: routers, error responses, authentication and middleware."""
