"""Preloaded first by the grading pool's forkserver (openrs.grading), never imported elsewhere: the forkserver and
every worker forked from it ignore SIGTERM, SIGINT and SIGUSR2.

SLURM signals every process of a job (SIGTERM on preemption, SIGUSR2 as its time-limit warning, whose default
action kills), and `kill -- -PGID`, `timeout` and a terminal's Ctrl-C signal a whole process group: the trainer
then checkpoints after its current step (openrs.train), which needs the graders alive until then. Workers still
end with the job: the pool stops them, and they get SIGKILL when the forkserver, which ends with the trainer, goes
(openrs.grading.worker.serve).
"""

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGUSR2, signal.SIG_IGN)
