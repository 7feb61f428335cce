"""population stage."""
