"""The iterative denoiser sampler: algorithm, measurement operators, summaries and figures."""
