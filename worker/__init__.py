"""Celery workers: hold the model once per process and classify submissions in micro-batches."""
