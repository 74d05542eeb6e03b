# The ragops service image. Build arguments name the build; `/version` reports them.
#   docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_TIME=$(date -u +%FT%TZ) --build-arg IMAGE_TAG=main-abc1234 -t ragops .
FROM python:3.11-slim-bookworm

# pg_dump/pg_restore for `ragops backup` against PostgreSQL
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY src ./src
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && useradd --system --home-dir /var/lib/ragops --create-home ragops

ARG GIT_COMMIT=""
ARG BUILD_TIME=""
ARG IMAGE_TAG=""
ENV RAGOPS_GIT_COMMIT=${GIT_COMMIT} \
    RAGOPS_BUILD_TIME=${BUILD_TIME} \
    RAGOPS_IMAGE_TAG=${IMAGE_TAG} \
    RAGOPS_HOST=0.0.0.0 \
    RAGOPS_PORT=8000 \
    RAGOPS_DATA_DIR=/var/lib/ragops

USER ragops
EXPOSE 8000
CMD ["ragops", "serve"]
