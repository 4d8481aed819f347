"""The container image: scripts/build-image builds ./Dockerfile without a Docker engine
(debootstrap base + buildah), runs it with --demo and scrapes /metrics from the container.

This needs root (debootstrap, buildah with chroot isolation), the Debian mirror and PyPI,
as CI has. Without root or passwordless sudo the test fails and says so: an image nobody
built is not a passing test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.exposition import find, parse_exposition, value

ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGE = ROOT / "scripts" / "build-image"
IMAGE = "localhost/sagemaker-training-exporter:test"
NOBODY = "65534"
#: Two image builds of minutes each: handed out first under pytest-xdist (tests/conftest.py).
STARTS_FIRST = True


def _passwordless_sudo() -> bool:
    if shutil.which("sudo") is None:
        return False
    return subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0


def _buildah_cmd(*args: str) -> list[str]:
    # The store scripts/build-image uses. Set with `env`, which survives sudo; buildah's
    # --storage-driver flag does not find the images the env variable's store holds.
    cmd = ["env", "STORAGE_DRIVER=vfs", "buildah", *args]
    return cmd if os.geteuid() == 0 else ["sudo", "-n", *cmd]


def _buildah(*args: str) -> str:
    return subprocess.run(_buildah_cmd(*args), capture_output=True, text=True, check=True).stdout


def test_build_image_refuses_to_run_without_root() -> None:
    # As uid 65534 (no sudo rights), the script must stop at once with a message saying why,
    # not half-way through debootstrap. uid 65534 may not enter the checkout (a clone in a
    # `mktemp -d` directory is mode 700), so it runs a copy of the script from a directory
    # it can read; the root check comes before anything the script reads from the checkout.
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        script = Path(d) / "scripts" / "build-image"
        script.parent.mkdir(mode=0o755)
        shutil.copy2(BUILD_IMAGE, script)
        script.chmod(0o755)
        _refuses_without_root(script)


def _refuses_without_root(script: Path) -> None:
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
           str(script)]  # fmt: skip
    if os.geteuid() != 0:
        # Without sudo we already are such a user.
        cmd = ["sudo", "-n", *cmd] if _passwordless_sudo() else [str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "needs root" in proc.stderr
    assert "==" not in proc.stdout  # no step started


def test_image_builds_runs_demo_and_serves_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() != 0 and not _passwordless_sudo():
        pytest.fail(
            "building the image needs root (debootstrap, buildah with chroot isolation): run "
            "the tests as root, as CI does, or give this user passwordless sudo"
        )
    metrics_out = tmp_path / "metrics.txt"
    env = dict(os.environ, IMAGE=IMAGE, METRICS_OUT=str(metrics_out))
    t0 = time.monotonic()
    proc = subprocess.run([str(BUILD_IMAGE)], capture_output=True, text=True, env=env, timeout=1500)
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + "\n" + proc.stderr[-5000:]
    cold = "debootstrap bookworm" in proc.stdout

    try:
        # What the running container served, checked here rather than trusted from the script.
        m = parse_exposition(metrics_out.read_text())
        jobs = find(m, "sagemaker_training_job_status")
        assert jobs, "no sagemaker_training_job_status series from the container"
        assert value(m, "sagemaker_exporter_build_info") == 1
        assert all(v == 1 for v in find(m, "sagemaker_exporter_target_up").values())

        info: dict[str, Any] = json.loads(_buildah("inspect", "--type", "image", IMAGE))
        config = info["OCIv1"]["config"]
        assert config["User"] == "65532:65532"
        assert config["Entrypoint"] == ["sagemaker-exporter"]
        assert "9843/tcp" in config["ExposedPorts"]
        size = _buildah("images", "--format", "{{.Size}}", IMAGE).strip()
        with capsys.disabled():
            print(
                f"\n[image] {IMAGE}: {size}, built and checked in {took:.0f}s "
                f"({'cold: debootstrap base' if cold else 'warm: cached base'}), "
                f"{len(jobs)} status series scraped from the container"
            )
    finally:
        # vfs keeps a full copy per image; the cached base stays for the next run.
        subprocess.run(_buildah_cmd("rmi", IMAGE), check=False)


PRODUCTION_IMAGE = "localhost/sagemaker-training-exporter:test-production"
MAX_PRODUCTION_MB = 150  # docs/benchmarks.md has the measured figure
# As scripts/build-image runs containers: no namespaces needed, the host's network (loopback).
CHROOT = ("--isolation", "chroot")


def _megabytes(size: str) -> float:
    """buildah's human size ("128 MB", "1.2 GB"): decimal units, as Docker prints them."""
    number, unit = size.split()
    return float(number) * {"kB": 1e-3, "MB": 1.0, "GB": 1e3}[unit]


def test_production_image_is_slim_and_polls_sagemaker(
    moto_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The image without the demo extra: at most 150 MB, and it still polls a SageMaker (moto
    on this machine's loopback, which chroot isolation shares) with the pruned botocore."""
    if os.geteuid() != 0 and not _passwordless_sudo():
        pytest.fail("building the image needs root: run the tests as root, as CI does")
    env = dict(os.environ, IMAGE=PRODUCTION_IMAGE, EXTRAS="")
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(BUILD_IMAGE), "--no-demo"], capture_output=True, text=True, env=env, timeout=1500
    )
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + "\n" + proc.stderr[-5000:]
    moto_server.reset()
    moto_server.create("in-the-image")
    ctr = _buildah("from", "--pull=never", PRODUCTION_IMAGE).strip()
    try:
        creds = ["--env", "AWS_ACCESS_KEY_ID=testing", "--env", "AWS_SECRET_ACCESS_KEY=testing"]
        once = ["--once", "--endpoint-url", moto_server.url, "--region", "us-east-1"]
        run = subprocess.run(
            _buildah_cmd("run", *CHROOT, *creds, ctr, "--", "sagemaker-exporter", *once),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
        m = parse_exposition(run.stdout)
        assert find(m, "sagemaker_training_job_status", training_job="in-the-image")
        # moto is the demo extra's: the production image must not carry it
        probe = subprocess.run(
            _buildah_cmd("run", *CHROOT, ctr, "--", "python3", "-c", "import moto"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode != 0 and "No module named 'moto'" in probe.stderr
        size = _buildah("images", "--format", "{{.Size}}", PRODUCTION_IMAGE).strip()
        with capsys.disabled():
            print(f"\n[image] {PRODUCTION_IMAGE}: {size} (production), built in {took:.0f}s")
        assert _megabytes(size) <= MAX_PRODUCTION_MB, size
    finally:
        subprocess.run(_buildah_cmd("rm", ctr), check=False, capture_output=True)
        subprocess.run(_buildah_cmd("rmi", PRODUCTION_IMAGE), check=False, capture_output=True)
        moto_server.reset()
