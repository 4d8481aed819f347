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
# pip, setuptools and wheel are removed from the venv afterwards because nothing installs
# packages at run time. The optional build secret `pip_cert` is a CA bundle for networks that
# intercept TLS (`--secret id=pip_cert,src=...`); as a secret it never lands in a layer.
RUN --mount=type=secret,id=pip_cert \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install --no-cache-dir ".${EXTRAS:+[${EXTRAS}]}" \
 && /opt/venv/bin/python -m pip uninstall -y -q pip setuptools wheel \
 && rm -rf /root/.cache /src

# botocore ships the model of every AWS service (27 MB); the exporter calls SageMaker and STS
# (the credential chain may call SSO), CloudWatch and EC2 with --cloudwatch, SQS in event
# mode, the Price List API with --price-list-api. The top-level files (endpoints,
# partitions, retry and default configuration) stay.
# An image with extras (the demo's moto serves many services) keeps every model. Bytecode
# is compiled afterwards, so a read-only root filesystem costs nothing at start.
ARG BOTOCORE_SERVICES="sagemaker sts sso sso-oidc cloudwatch ec2 sqs pricing"
# hadolint ignore=SC2086
RUN data=$(/opt/venv/bin/python -c 'import botocore, os; print(os.path.join(os.path.dirname(botocore.__file__), "data"))') \
 && if [ -z "${EXTRAS}" ]; then \
      mkdir /tmp/keep \
      && for s in ${BOTOCORE_SERVICES}; do mv "$data/$s" /tmp/keep/; done \
      && find "$data" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} + \
      && mv /tmp/keep/* "$data"/; \
    fi \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# The runtime root filesystem: the base image without what only a package manager, a shell
# user or another language needs (apt, perl, locales, docs, time zones, iconv modules, the
# wheels python3-venv bundles). The last stage is `scratch` plus this one directory, so the
# image is a single layer and what is left out here really is not shipped. /etc/hosts,
# /etc/resolv.conf and /etc/hostname come from the container runtime.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN mkdir /rootfs \
 && tar -C / --one-file-system -cf - \
      --exclude=./rootfs --exclude=./proc --exclude=./sys --exclude=./dev --exclude=./run \
      --exclude=./tmp --exclude=./src --exclude=./root \
      --exclude=./etc/hosts --exclude=./etc/resolv.conf --exclude=./etc/hostname \
      --exclude=./var/cache --exclude=./var/log --exclude=./var/lib/apt \
      --exclude=./usr/share/locale --exclude=./usr/share/i18n --exclude=./usr/share/doc \
      --exclude=./usr/share/man --exclude=./usr/share/info --exclude=./usr/share/zoneinfo \
      --exclude=./usr/share/python-wheels --exclude=./usr/share/perl5 \
      --exclude=./usr/share/lintian --exclude=./usr/share/bash-completion \
      --exclude=./usr/lib/x86_64-linux-gnu/perl-base --exclude=./usr/lib/x86_64-linux-gnu/gconv \
      --exclude='./usr/bin/perl*' --exclude=./usr/lib/apt --exclude='./usr/bin/apt*' \
      --exclude='./usr/lib/x86_64-linux-gnu/libapt-*' \
      --exclude=./usr/lib/python3.11/ensurepip --exclude=./usr/lib/python3.11/lib2to3 \
      --exclude=./usr/lib/python3.11/pydoc_data --exclude=./usr/lib/python3.11/idlelib \
      --exclude=./usr/lib/python3.11/tkinter --exclude=./usr/lib/python3.11/turtledemo \
      . \
  | tar -C /rootfs -xpf - \
 && mkdir -p /rootfs/proc /rootfs/sys /rootfs/dev /rootfs/run /rootfs/root \
 && install -d -m 1777 /rootfs/tmp

FROM scratch
COPY --from=builder /rootfs /
LABEL org.opencontainers.image.title="sagemaker-training-exporter" \
      org.opencontainers.image.description="Prometheus exporter for AWS SageMaker training jobs" \
      org.opencontainers.image.licenses="Apache-2.0"
# `scratch` has no environment: PATH and LANG are set in full.
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Numeric user (distroless "nonroot"): runAsNonRoot can verify it without an /etc/passwd entry.
USER 65532:65532
EXPOSE 9843
ENTRYPOINT ["sagemaker-exporter"]
