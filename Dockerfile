# One recipe for every image of the fleet (why one: docs/operations.md#containers). From the
# repository root:
#   docker build --build-arg PACKAGE=notify-gateway --build-arg MODULE=gateway -t notify-gateway .
# PACKAGE is the workspace package to install (with notify-common and the notifyctl CLI), MODULE
# the one `python -m` runs. docker-compose.yml builds all of them.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG PACKAGE
ARG MODULE
RUN test -n "$PACKAGE" && test -n "$MODULE" || { echo "set --build-arg PACKAGE and MODULE" >&2; exit 1; }
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/venv
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY libs/ libs/
COPY services/ services/
COPY tools/ tools/
# Only this service's package and what it depends on, from the lock; not editable, so the final
# image needs none of /src.
RUN uv sync --frozen --no-default-groups --no-editable --package "$PACKAGE" --package notifyctl
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

FROM ${PYTHON_IMAGE} AS runtime
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
