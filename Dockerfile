# One recipe for every image of the fleet (why one: docs/operations.md#containers). From the
# repository root:
#   docker build --build-arg PACKAGE=notify-gateway --build-arg MODULE=gateway -t notify-gateway .
# PACKAGE is the workspace package to install (with notify-common and the notifyctl CLI), MODULE
# the one `python -m` runs. docker-compose.yml builds all of them.
#
# The base image is named by tag, which moves with every Python and Debian patch release. To pin
# it, look up the digest the tag points to now:
#   docker buildx imagetools inspect python:3.11-slim-bookworm --format '{{.Manifest.Digest}}'
# and build with --build-arg PYTHON_DIGEST=sha256:<digest> (or make that digest the default below).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG PYTHON_DIGEST=

FROM ${PYTHON_IMAGE}${PYTHON_DIGEST:+@}${PYTHON_DIGEST} AS build
ARG PACKAGE
ARG MODULE
RUN test -n "$PACKAGE" && test -n "$MODULE" || { echo "set --build-arg PACKAGE and MODULE" >&2; exit 1; }
# The same uv as the Makefile's UV_VERSION.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==$UV_VERSION"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/venv
WORKDIR /src
# Only this service's package and what it depends on, from the lock; not editable, so the final
# image needs none of /src. In two steps: first the third-party dependencies, from the lock and
# the workspace's pyproject files alone, so a source edit does not rebuild that layer...
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/router/pyproject.toml services/router/
COPY services/push-worker/pyproject.toml services/push-worker/
COPY services/history/pyproject.toml services/history/
COPY tools/devstack/pyproject.toml tools/devstack/
COPY tools/fcm-fake/pyproject.toml tools/fcm-fake/
COPY tools/notifyctl/pyproject.toml tools/notifyctl/
COPY clients/python/pyproject.toml clients/python/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-default-groups --no-editable --no-install-workspace \
        --package "$PACKAGE" --package notifyctl
# ...then the workspace packages themselves.
COPY libs/ libs/
COPY services/ services/
COPY tools/ tools/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-default-groups --no-editable --package "$PACKAGE" --package notifyctl
RUN printf '#!/bin/sh\nexec python -m %s "$@"\n' "$MODULE" > /app/venv/bin/notify-service \
    && chmod 0755 /app/venv/bin/notify-service
# The ops port the module listens on when OPS_PORT is not set (its Config default; the table in
# docs/operations.md#ports, which a test keeps equal to this list); the health check asks it.
RUN case "$MODULE" in \
      gateway) port=9101 ;; router) port=9102 ;; push_worker) port=9103 ;; history) port=9104 ;; \
      notifyctl) port=9109 ;; fcm_fake) port=9099 ;; \
      *) echo "no ops port known for MODULE=$MODULE (docs/operations.md#ports)" >&2; exit 1 ;; \
    esac \
    && echo "$port" > /app/venv/ops-port

FROM ${PYTHON_IMAGE}${PYTHON_DIGEST:+@}${PYTHON_DIGEST} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/app/venv/bin:$PATH
RUN groupadd --system --gid 10001 notify \
    && useradd --system --uid 10001 --gid notify --no-create-home --home-dir /data --shell /usr/sbin/nologin notify \
    && mkdir /data && chown notify:notify /data
COPY --from=build /app/venv /app/venv
WORKDIR /data
USER 10001:10001
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('OPS_PORT') or open('/app/venv/ops-port').read().strip(); urllib.request.urlopen('http://127.0.0.1:%s/healthz' % port, timeout=2)"]
CMD ["notify-service"]
