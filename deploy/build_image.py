"""Containerize a built riskserve bento: `python deploy/build_image.py [riskserve:<version>]`.

With Docker when a daemon answers; otherwise with BentoML's buildah backend, daemonless, as
root (buildah and debootstrap are installed from Debian's packages when missing). When no
registry serves the base image the generated Dockerfile starts FROM, a compatible one is
made with debootstrap and kept in buildah's storage, so only the first build pays for it.
The image is tagged with the bento version and labelled with the model tag and git commit.
"""

from __future__ import annotations

import argparse
import configparser
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Debian release whose python3 matches python:<version>-slim.
DEBIAN_FOR_PYTHON = {"3.11": "bookworm"}
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Kept between builds: apt's downloads and uv's wheel cache (mounted, never in the image).
CACHE = Path(os.environ.get("RISKSERVE_BUILD_CACHE", "/var/cache/riskserve-build"))
BASE_LABEL = "riskserve.base"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
SLIM_EXCLUDED = ("doc", "man", "info", "locale")


def log(message: str) -> None:
    """Progress on stderr; stdout's last line is the image name."""
    print(f"build-image: {message}", file=sys.stderr, flush=True)


def run(*cmd: str, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a command, failing loudly."""
    return subprocess.run(cmd, check=True, text=True, **kwargs)


def succeeds(*cmd: str, timeout: float | None = None) -> bool:
    """Whether a command exits 0 (quietly)."""
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def git_commit() -> str:
    """HEAD's commit, marked `-dirty` when tracked files differ from it."""
    sha = run("git", "rev-parse", "HEAD", cwd=ROOT, capture_output=True).stdout.strip()
    clean = succeeds("git", "-C", str(ROOT), "diff", "--quiet", "HEAD")
    return sha if clean else f"{sha}-dirty"


def base_image(dockerfile: Path) -> str:
    """The fully qualified image the bento's Dockerfile starts FROM."""
    for line in dockerfile.read_text().splitlines():
        if line.startswith("FROM "):
            name = line.split()[1]
            return name if "/" in name else f"docker.io/library/{name}"
    raise SystemExit(f"{dockerfile}: no FROM line")


def apt_install(*packages: str) -> None:
    """Install Debian packages (CI machines start without them)."""
    log(f"installing {' '.join(packages)} from Debian's packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages, env=env)


def strip_docs(rootfs: Path) -> None:
    """Delete the SLIM_EXCLUDED folders' contents but the packages' copyright files."""
    for folder in SLIM_EXCLUDED:
        # Deepest first, so folders are empty by the time they are visited.
        for path in sorted(rootfs.glob(f"usr/share/{folder}/**/*"), reverse=True):
            if path.is_symlink() or path.is_file():
                if path.name != "copyright":
                    path.unlink()
            elif not any(path.iterdir()):
                path.rmdir()


def make_base(name: str) -> None:
    """Commit a python:<v>-slim look-alike: minimal Debian with its python3 and pip."""
    version = name.rsplit(":", 1)[1].removesuffix("-slim")
    suite = DEBIAN_FOR_PYTHON.get(version)
    if not name.startswith("docker.io/library/python:") or suite is None:
        raise SystemExit(f"cannot make {name} locally: only {list(DEBIAN_FOR_PYTHON)} -slim")
    log(f"{name} cannot be pulled: making it with debootstrap ({suite})")
    with tempfile.TemporaryDirectory(prefix="riskserve-base-") as tmp:
        rootfs = Path(tmp, "rootfs")
        run(
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-pip,ca-certificates",
            suite,
            str(rootfs),
            DEBIAN_MIRROR,
            stdout=subprocess.DEVNULL,
        )
        # python:<v>-slim lets pip install into the system Python and calls it `python`.
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        Path(rootfs, "usr/bin/python").symlink_to("python3")
        # Like Debian's slim images: no manuals, docs or translations, now or from later
        # apt installs (licences stay).
        Path(rootfs, "etc/dpkg/dpkg.cfg.d/slim").write_text(
            "".join(f"path-exclude /usr/share/{folder}/*\n" for folder in SLIM_EXCLUDED)
            + "path-include /usr/share/doc/*/copyright\n"
        )
        strip_docs(rootfs)
        for folder in ("var/lib/apt/lists", "var/cache/apt"):
            shutil.rmtree(rootfs / folder, ignore_errors=True)
        archive = Path(tmp, "rootfs.tar")
        run(
            "tar",
            "-C",
            str(rootfs),
            "--exclude=./dev/*",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
            "-cf",
            str(archive),
            ".",
        )
        container = run("buildah", "from", "scratch", capture_output=True).stdout.strip()
        try:
            run(
                "buildah", "add", "--quiet", container, str(archive), "/", stdout=subprocess.DEVNULL
            )
            run(
                "buildah",
                "config",
                "--env",
                "LANG=C.UTF-8",
                "--cmd",
                "python3",
                "--label",
                f"{BASE_LABEL}=debootstrap {suite}",
                container,
            )
            run("buildah", "commit", "--quiet", "--rm", container, name, stdout=subprocess.DEVNULL)
        except BaseException:
            succeeds("buildah", "rm", container)
            raise


def ensure_base(name: str) -> None:
    """The base image in buildah's storage: already there, pulled, or made locally."""
    if succeeds("buildah", "inspect", "--type", "image", name):
        return
    if succeeds("buildah", "pull", "--quiet", name, timeout=300):
        return
    make_base(name)


def pip_setting(key: str) -> str:
    """A setting of the host's pip (environment first, then its config files), or ''."""
    env = os.environ.get(f"PIP_{key.upper().replace('-', '_')}")
    if env:
        return env
    found = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", f"global.{key}"],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip() if found.returncode == 0 else ""


def build_config(folder: Path) -> list[str]:
    """Bind mounts that let pip and uv inside the build reach the host's package index.

    The host's CA bundle stands in for the image's own while packages are installed, and
    pip/uv configs carry the host's index URL; mounts are not committed to the image.
    """
    index = pip_setting("index-url")
    ca = pip_setting("cert") or HOST_CA
    pip_conf = configparser.ConfigParser()
    pip_conf["global"] = {"cert": HOST_CA, **({"index-url": index} if index else {})}
    with Path(folder, "pip.conf").open("w") as out:
        pip_conf.write(out)
    uv_toml = ["system-certs = true", 'cache-dir = "/var/cache/uv"', 'link-mode = "copy"']
    if index:
        uv_toml.append(f'index-url = "{index}"')
    Path(folder, "uv.toml").write_text("\n".join(uv_toml) + "\n")
    Path(CACHE, "apt", "partial").mkdir(parents=True, exist_ok=True)
    Path(CACHE, "uv").mkdir(parents=True, exist_ok=True)
    return [
        f"{ca}:{HOST_CA}:ro",
        f"{folder}/pip.conf:/etc/pip.conf:ro",
        f"{folder}/uv.toml:/etc/uv/uv.toml:ro",
        f"{CACHE}/apt:/var/cache/apt/archives",
        f"{CACHE}/uv:/var/cache/uv",
    ]


def image_size(backend: str, image: str) -> str:
    """The image's size as the backend reports it."""
    if backend == "docker":
        size = run(
            "docker", "image", "inspect", "--format", "{{.Size}}", image, capture_output=True
        ).stdout
        return f"{int(size) / 1e6:.0f} MB"
    return run(
        "buildah", "images", "--format", "{{.Size}}", image, capture_output=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bento", nargs="?", default="riskserve:latest")
    args = parser.parse_args()
    # BentoML streams the builder's output through its loggers.
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    import bentoml  # after argparse: importing BentoML takes seconds

    bento = bentoml.get(args.bento)
    image = f"{bento.tag.name}:{bento.tag.version}"
    models = sorted(str(m.tag) for m in bento.info.all_models)
    labels = {
        "org.opencontainers.image.title": bento.tag.name,
        "org.opencontainers.image.version": bento.tag.version,
        "org.opencontainers.image.revision": git_commit(),
        "riskserve.bento": str(bento.tag),
        "riskserve.model": ",".join(models),
    }
    started = time.monotonic()
    if shutil.which("docker") and succeeds("docker", "info", timeout=60):
        backend, options = "docker", {}
    else:
        if os.geteuid() != 0:
            raise SystemExit("no Docker daemon; the buildah fallback must run as root")
        missing = [p for p in ("buildah", "debootstrap") if not shutil.which(p)]
        if missing:
            apt_install(*missing)
        ensure_base(base_image(Path(bento.path, "env/docker/Dockerfile")))
        backend = "buildah"
        # chroot isolation needs no daemon, user namespaces or runtime; one layer per build
        # (buildah's default) lets the setup script's clean-up shrink the image.
        options = {"isolation": "chroot", "network": "host"}
    log(f"containerizing {bento.tag} (model {', '.join(models)}) with {backend}")
    with tempfile.TemporaryDirectory(prefix="riskserve-build-") as tmp:
        if backend == "buildah":
            options["volume"] = build_config(Path(tmp))  # a list: one --volume each
        bentoml.container.build(
            str(bento.tag),
            backend=backend,
            image_tag=(image, f"{bento.tag.name}:latest"),
            label=labels,
            **options,
        )
    # BentoML logs a failed build instead of raising: check the image exists.
    inspect = (
        ["docker", "image", "inspect"]
        if backend == "docker"
        else ["buildah", "inspect", "--type", "image"]
    )
    if not succeeds(*inspect, image):
        raise SystemExit(f"image build failed: {image} does not exist")
    log(f"built {image} in {time.monotonic() - started:.0f} s, size {image_size(backend, image)}")
    print(image)


if __name__ == "__main__":
    main()
