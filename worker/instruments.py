"""The worker's metrics (see worker/metrics.py for how they are served)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CVS = Counter("cvqueue_worker_cvs", "CVs classified (done) or given up on (failed).",
              ["outcome"])
BATCHES = Counter("cvqueue_worker_batches", "Micro-batches processed.")
BATCH_SIZE = Histogram("cvqueue_worker_batch_size", "CVs per micro-batch.",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
STAGE_SECONDS = Histogram("cvqueue_worker_stage_seconds", "Seconds per stage: queued (per "
                          "CV, submit to claim), claim, encode, classify_topk, explain and "
                          "store (per batch).",
                          ["stage"], buckets=(.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60,
                                              300, 900))
MODEL = Gauge("cvqueue_worker_model", "The model a worker process serves (value 1).",
              ["model_version", "classifier"], multiprocess_mode="max")
LAST_BATCH = Gauge("cvqueue_worker_last_batch_timestamp_seconds", "When each live worker "
                   "process last finished a batch.", multiprocess_mode="liveall")
