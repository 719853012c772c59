"""Training: fit, evaluate, export."""
