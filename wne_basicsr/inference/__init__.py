"""Inference helpers that import nothing from the models: precision, memory format, compilation, tiling."""
