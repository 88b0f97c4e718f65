"""Grading answers: pure answer rules, and math-verify in bounded worker processes (the pool and its worker);
`openrs-gold-check` (`python -m openrs.grading`) grades every gold answer of a file against itself."""
