"""Benchmark evaluation: the harness, its generation backends, the estimators, and the step-wise training callback;
`openrs-evaluate` (`python -m openrs.evaluation`) evaluates a model."""
