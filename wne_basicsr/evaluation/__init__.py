"""Evaluation protocols: noise-mismatch sweeps, their plots and the normalized-coordinate analysis."""
