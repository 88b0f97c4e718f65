"""Benchmark evaluation: the harness, its generation backends, the estimators, and the step-wise training callback."""
