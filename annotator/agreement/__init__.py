"""Agreement: coefficients, merging sessions (MergedStore), reconciliation, the report model."""
