"""No-reference and reference-based fusion metrics (placeholder until the metrics issue lands)."""
