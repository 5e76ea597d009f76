"""Template tags and filters of governance."""
