# feeder's container image: `feeder run` as a non-root user, health-checked on /healthz.
#   docker build -t feeder .
#   docker run --rm -e FEEDER_API__TOKEN=... -e FEEDER_KAFKA__BOOTSTRAP_SERVERS=... feeder
#
# Two stages:
# - devkit: builds the runtime wheel and its dependencies' wheels into /wheels, then installs
#   them and feeder's dev kit (devkit/: the API simulator, the local broker, the demo) into
#   itself. It is the image of docker-compose.yml's simulator service
#   (`build: {context: ., target: devkit}`, `feeder simulate`); never run it in production.
# - the runtime stage (the default target): only the wheels from /wheels, so the image holds the
#   runtime wheel and its dependencies and none of the dev kit.

# The base is a build argument so that a machine without Docker Hub can build on a stand-in
# (tests/container builds one from Debian's packages); `docker build .` uses the official image.
ARG BASE_IMAGE=python:3.12.8-slim-bookworm

FROM ${BASE_IMAGE} AS devkit
WORKDIR /src
COPY pyproject.toml README.md ./
COPY feeder ./feeder
RUN pip wheel --no-cache-dir --wheel-dir /wheels .
COPY devkit ./devkit
RUN pip install --no-cache-dir --no-index --find-links /wheels feeder \
    && pip install --no-cache-dir ./devkit

FROM ${BASE_IMAGE} AS runtime
RUN groupadd --system --gid 10001 feeder \
    && useradd --system --uid 10001 --gid feeder --home-dir /var/lib/feeder --create-home \
       --shell /usr/sbin/nologin feeder
# Copied, not mounted (RUN --mount=from=devkit): podman's builder does not key its cache on a
# mounted stage and would keep a stale install when only the code changed.
COPY --from=devkit /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index /tmp/wheels/*.whl && rm -rf /tmp/wheels

# Metrics and probes must be reachable from outside the container; the checkpoint lives on a
# volume owned by the feeder user.
ENV PYTHONUNBUFFERED=1 \
    FEEDER_OBSERVABILITY__HOST=0.0.0.0 \
    FEEDER_OBSERVABILITY__PORT=9464 \
    FEEDER_CHECKPOINT__PATH=/var/lib/feeder/feeder.sqlite3
WORKDIR /var/lib/feeder
VOLUME ["/var/lib/feeder"]
USER 10001:10001
EXPOSE 9464

# Python's own urllib: the slim image has no curl. Follows FEEDER_OBSERVABILITY__PORT.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('FEEDER_OBSERVABILITY__PORT', '9464'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=3).status == 200 else 1)"]

ENTRYPOINT ["feeder"]
CMD ["run"]
