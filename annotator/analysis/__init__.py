"""Analysis: frequencies, resolution-time statistics, figures, the methods paragraph."""
