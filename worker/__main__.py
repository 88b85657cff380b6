"""`python -m worker` (or `cvqueue worker`): start a worker from the CVQ_* environment."""

from worker.main import run

run()
