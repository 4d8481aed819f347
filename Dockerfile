# sagemaker-training-exporter image. Any Debian-like base with python3 >= 3.11 and the venv module
# works; scripts/build-image builds it without Docker from a local debootstrap rootfs.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS builder
# Extras to install: "" for the lean production image, "demo" to add moto so `--demo` works
# (CI builds that one to scrape a running container without AWS).
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# A venv keeps the runtime stage a single COPY; pip, setuptools and wheel are removed from it
# afterwards because nothing installs packages at run time. The optional build secret
# `pip_cert` is a CA bundle for networks that intercept TLS (`--secret id=pip_cert,src=...`);
# as a secret it never lands in a layer.
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install --no-cache-dir ".${EXTRAS:+[${EXTRAS}]}" \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib \
 && /opt/venv/bin/python -m pip uninstall -y -q pip setuptools wheel \
 && rm -rf /root/.cache /src

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="sagemaker-training-exporter" \
      org.opencontainers.image.description="Prometheus exporter for AWS SageMaker training jobs" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /opt/venv /opt/venv
# Bytecode was compiled in the builder so a read-only root filesystem costs nothing at start.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric user (distroless "nonroot"): runAsNonRoot can verify it without an /etc/passwd entry.
USER 65532:65532
EXPOSE 9843
ENTRYPOINT ["sagemaker-exporter"]
