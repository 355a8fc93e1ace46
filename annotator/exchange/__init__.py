"""Exchange: CSV, JSONL and REFI-QDA exports."""
