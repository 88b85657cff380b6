# One image for the API, the workers and the training job.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PIP_NO_CACHE_DIR=1
# Pin torch first (point PIP_EXTRA_INDEX_URL at a CPU wheel index to keep the image small).
ARG PIP_EXTRA_INDEX_URL=""
RUN pip install torch==2.13.0
COPY pyproject.toml README.md ./
COPY api api
COPY worker worker
COPY shared shared
COPY models models
RUN pip install .
RUN useradd --create-home cvqueue && mkdir -p var/artifacts && chown -R cvqueue var
USER cvqueue
