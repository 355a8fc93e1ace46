"""Code: one session file per coder (SessionStore), labels made elsewhere, simulated coders."""
