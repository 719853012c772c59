"""threadguard: comment-moderation classifier (hate, insult, off_topic) and its scoring service."""

__version__ = "0.1.0"
