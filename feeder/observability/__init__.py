"""Metrics, health endpoints and logging. They observe the feed; they never steer it."""
