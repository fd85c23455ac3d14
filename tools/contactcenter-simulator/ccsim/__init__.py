"""Contact-center simulator: Open311 GeoReport v2 JSON server + operator page (Ukrainian)."""
