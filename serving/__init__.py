"""Serving: load an exported model dir, score comments, the HTTP API."""
