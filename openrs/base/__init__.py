"""The lowest layer: the error of every input a user can fix (errors), the redaction of every secret (redaction),
child processes that end with their parent (processes), what the ranks of a job agree on (collective), what
makes a job an Optuna trial (trial) and scores over the seeds of a study (seeds)."""
