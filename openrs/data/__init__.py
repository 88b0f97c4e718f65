"""Training and evaluation data: the shipped files, generated arithmetic, reading and checking rows, and the
training mix."""
