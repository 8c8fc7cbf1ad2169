# vendre-feeds: one image for every process of a fleet (worker, beat, web tier) and for a
# single shop's `serve`. Slim Python, the package installed from this source tree, run
# as an unprivileged user. Build: docker build -t vendre-feeds .
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The user every process runs as (no shell, no password, a fixed id for volume owners).
RUN groupadd --system --gid 10001 vendre \
 && useradd --system --uid 10001 --gid vendre --home-dir /home/vendre --create-home \
            --shell /usr/sbin/nologin vendre

# The package from the source tree: only what the wheel is built from.
WORKDIR /src
COPY pyproject.toml README.md BENCHMARKS.md ./
COPY feeds ./feeds
COPY tracking ./tracking
COPY templates ./templates
# fleet: Celery and redis; s3: boto3 for [publish].
RUN pip install ".[fleet,s3]" \
 && rm -rf /src

# Shops' data dirs (the fleet's state_root) live on a volume owned by the user.
RUN mkdir -p /var/lib/vendre-feeds && chown vendre:vendre /var/lib/vendre-feeds
VOLUME ["/var/lib/vendre-feeds"]

USER vendre
WORKDIR /home/vendre
EXPOSE 8000
ENTRYPOINT ["vendre-feeds"]
CMD ["--help"]
