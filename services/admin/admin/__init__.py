"""The admin service: staff REST API under /api/v1 (issue 8) and the panel (issue 9)."""
