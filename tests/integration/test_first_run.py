"""First-run paths, run cold (issue 16).

A machine that keeps its images from earlier runs never takes the branches a
newcomer's first run takes. Each test here starts from nothing: a tag that
does not exist yet, a recipe the engine has never seen. The lab image's base
layer (debootstrap, about a minute) is built cold by every `.ci/run`, which
removes the project's images first (scripts/clean-images.sh); its app layer is
built cold here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.helpers.lab import ROOT

BUSYBOX = ROOT / "tests" / "fixtures" / "busybox_image.sh"
BUILD = ROOT / "lab" / "image" / "build.sh"

pytestmark = pytest.mark.lab


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                          env=dict(os.environ, **(env or {})))


def image_exists(tag: str) -> bool:
    return run(["docker", "image", "inspect", tag]).returncode == 0


def remove_image(tag: str) -> None:
    run(["docker", "image", "rm", "-f", tag])


def test_busybox_fixture_builds_cold_every_time() -> None:
    """The fixture's check once failed 1 time in 4 on a cold machine (SIGPIPE under pipefail)."""
    tag = "copilotos-test-busybox-cold:%s" % uuid.uuid4().hex[:8]
    try:
        for attempt in range(20):
            assert not image_exists(tag)
            done = run(["bash", str(BUSYBOX)], {"COPILOTOS_TEST_BUSYBOX_TAG": tag})
            assert done.returncode == 0, "cold build %d failed: %s" % (attempt, done.stderr)
            assert done.stdout.strip() == tag
            ran = run(["docker", "run", "--rm", "--network", "none", tag, "sh", "-c", "echo ok"])
            assert ran.stdout.strip() == "ok", ran.stderr
            # Warm: the same tag again is reused, not rebuilt.
            again = run(["bash", str(BUSYBOX)], {"COPILOTOS_TEST_BUSYBOX_TAG": tag})
            assert again.returncode == 0 and again.stdout.strip() == tag
            remove_image(tag)
    finally:
        remove_image(tag)


def test_busybox_fixture_names_a_missing_binary() -> None:
    tag = "copilotos-test-busybox-cold:%s" % uuid.uuid4().hex[:8]
    done = run(["bash", str(BUSYBOX)],
               {"COPILOTOS_TEST_BUSYBOX_TAG": tag, "COPILOTOS_TEST_BUSYBOX_BIN": "/nonexistent/busybox"})
    assert done.returncode == 1
    assert "/nonexistent/busybox missing; apt-get install busybox-static" in done.stderr
    assert not image_exists(tag)


def test_busybox_fixture_refuses_a_dynamic_binary() -> None:
    """A binary that needs libc cannot run in the image: named, and no image is left."""
    tag = "copilotos-test-busybox-cold:%s" % uuid.uuid4().hex[:8]
    done = run(["bash", str(BUSYBOX)],
               {"COPILOTOS_TEST_BUSYBOX_TAG": tag, "COPILOTOS_TEST_BUSYBOX_BIN": shutil.which("true") or "/bin/true"})
    assert done.returncode == 1
    assert "does not run inside an image without libc" in done.stderr
    assert not image_exists(tag)


def test_lab_image_app_layer_builds_cold(tmp_path: Path) -> None:
    # The real recipe first: it provides the base layer (a no-op when present).
    real = run(["bash", str(BUILD)])
    assert real.returncode == 0, real.stderr
    recipe = tmp_path / "image"
    shutil.copytree(ROOT / "lab" / "image", recipe, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    marker = uuid.uuid4().hex
    (recipe / "app" / "cold-marker.txt").write_text(marker)
    env = {"COPILOTOS_LAB_IMAGE_NAME": "copilotos-test-labcold", "COPILOTOS_LAB_BASE_NAME": "copilotos-lab-base"}
    tag = run(["bash", str(recipe / "build.sh"), "--tag"], env).stdout.strip()
    assert tag.startswith("copilotos-test-labcold:") and not image_exists(tag)
    try:
        built = run(["bash", str(recipe / "build.sh")], env)
        assert built.returncode == 0, built.stderr
        assert built.stdout.strip() == tag
        assert "debootstrap" not in built.stderr, "the base layer was rebuilt for an app change"
        assert "lab image: layer %s" % tag in built.stderr
        shown = run(["docker", "run", "--rm", "--network", "none", tag, "cat", "/opt/lab/app/cold-marker.txt"])
        assert shown.stdout == marker, shown.stderr
        # The services layer keeps the base's environment and gets the lab's command (the web's nginx;
        # redis and the Mongo stand-in set theirs in the compose file).
        config = run(["docker", "image", "inspect", "--format", "{{json .Config.Cmd}} {{.Config.WorkingDir}}", tag])
        assert config.stdout.strip() == '["nginx","-g","daemon off;"] /opt/lab/app'
        warm = run(["bash", str(recipe / "build.sh")], env)
        assert warm.returncode == 0 and warm.stdout.strip() == tag
        assert warm.stderr == "", "a warm build did work: %s" % warm.stderr
    finally:
        remove_image(tag)


@pytest.mark.parametrize("generation", ["diagnosis", "current"])
def test_lab_api_layer_builds_cold_at_the_upstream_paths(tmp_path: Path, generation: str) -> None:
    real = run(["bash", str(BUILD)])
    assert real.returncode == 0, real.stderr
    recipe = tmp_path / "image"
    shutil.copytree(ROOT / "lab" / "image", recipe, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    marker = uuid.uuid4().hex
    (recipe / "apps" / "api" / "cold-marker.txt").write_text(marker)
    env = {"COPILOTOS_LAB_API_NAME": "copilotos-test-apicold", "COPILOTOS_LAB_BASE_NAME": "copilotos-lab-base"}
    tag = run(["bash", str(recipe / "build.sh"), "--api", generation, "--tag"], env).stdout.strip()
    assert tag.startswith("copilotos-test-apicold:%s-" % generation) and not image_exists(tag)
    try:
        built = run(["bash", str(recipe / "build.sh"), "--api", generation], env)
        assert built.returncode == 0, built.stderr
        assert built.stdout.strip() == tag and "debootstrap" not in built.stderr
        # The real image's layout: apps/api at /app, the settings at the upstream path.
        shown = run(["docker", "run", "--rm", "--network", "none", tag, "cat", "/app/cold-marker.txt",
                     "/app/src/core/config.py"])
        assert shown.stdout.startswith(marker) and "class Settings" in shown.stdout, shown.stderr
        config = run(["docker", "image", "inspect", "--format", "{{.Config.WorkingDir}} {{json .Config.Cmd}}", tag])
        assert config.stdout.startswith('/app ["python3","-m","uvicorn","src.main:app"'), config.stdout
    finally:
        remove_image(tag)


def test_clean_images_lists_only_project_images() -> None:
    listed = run([str(ROOT / "scripts" / "clean-images.sh"), "--list"])
    assert listed.returncode == 0, listed.stderr
    names = [line.split(":")[0] for line in listed.stdout.split()]
    assert names, "the lab image built above is a project image"
    project = ("copilotos-lab", "copilotos-lab-base", "copilotos-lab-api")
    assert all(name in project or name.startswith("copilotos-test-") for name in names), names
