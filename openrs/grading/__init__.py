"""Grading answers: pure answer rules, and math-verify in bounded worker processes (the pool and its worker)."""
