"""Training and evaluation data: the shipped files, generated arithmetic, reading and checking rows, the training
mix, and the evaluation benchmarks."""
