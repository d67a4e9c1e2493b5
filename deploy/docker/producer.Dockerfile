# The Finnhub producer and the Finnhub-protocol simulator (services/producer), one image for both.
# Build from the repository root:  docker build -f deploy/docker/producer.Dockerfile -t finnhub-pipeline/producer .
# Python 3.11.7: the version the local runtime's virtualenv uses (pyproject.toml requires 3.11).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/pipeline

# Only the producer's packages, at the versions requirements.txt pins, with every transitive dependency
# pinned by deploy/constraints.txt (the rest of requirements.txt is Airflow and Spark: not needed here).
COPY requirements.txt deploy/constraints.txt /tmp/pins/
RUN grep -E '^(websocket-client|websockets|confluent-kafka|prometheus-client|pydantic-settings|orjson)==' \
        /tmp/pins/requirements.txt > /tmp/pins/producer.txt \
    && test "$(wc -l < /tmp/pins/producer.txt)" -eq 6 \
    && pip install -r /tmp/pins/producer.txt -c /tmp/pins/constraints.txt \
    && rm -rf /tmp/pins

# The project's own package (pyproject.toml), not a PYTHONPATH: only services/ is copied, so only it is
# installed; its dependencies are the pinned ones above.
COPY pyproject.toml /opt/pipeline/
COPY services/ /opt/pipeline/services/
RUN pip install --no-deps /opt/pipeline
COPY deploy/docker/producer_entrypoint.py /usr/local/bin/producer-entrypoint

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin producer
USER 10001

# 8000: the producer's /metrics (PRODUCER_METRICS_PORT); 8765: the simulator, when this image runs it.
EXPOSE 8000 8765
ENTRYPOINT ["python", "/usr/local/bin/producer-entrypoint"]
CMD ["python", "-m", "services.producer"]
