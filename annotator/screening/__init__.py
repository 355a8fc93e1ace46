"""Screening with a model: rank the unscreened items by a model trained on the coder's own
decisions, say how many relevant items remain, and decide when to stop (see README,
"Screening with a model")."""
