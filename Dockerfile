# The Switchboard worker image (used by docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Every dependency pinned and hash-checked (requirements/runtime.txt, made by
# `make lock`), in a layer of its own; then the project without dependencies.
COPY requirements/runtime.txt ./requirements/
RUN pip install --disable-pip-version-check --require-hashes --no-deps -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY core ./core
COPY connectors ./connectors
COPY streams ./streams
RUN pip install --disable-pip-version-check --no-deps --no-build-isolation . \
 && useradd --system --uid 10001 --home-dir /var/lib/switchboard switchboard \
 && mkdir -p /var/lib/switchboard && chown switchboard /var/lib/switchboard

USER switchboard
EXPOSE 8080
CMD ["switchboard", "worker"]
