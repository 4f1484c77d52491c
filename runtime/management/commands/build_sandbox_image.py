"""Build the container backend's worker image on the Docker engine (no registry, no download at build time).

    python manage.py build_sandbox_image [--force] [--rootfs DIR] [--docker-host URL] [--tag TAG]
    python manage.py build_sandbox_image --print-seccomp-profile

Skips the build when the engine already has the image with the same content label (see runtime.sandbox.docker_image).
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Build the Docker image plugin workers run in (runtime.sandbox.docker.DockerBackend)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="rebuild even when the image is current")
        parser.add_argument("--rootfs", type=Path, help="import this debootstrapped root filesystem as the base")
        parser.add_argument("--docker-host", default=None, help="the engine (default: SANDBOX_DOCKER_HOST)")
        parser.add_argument("--tag", default=None, help="the image tag (default: SANDBOX_DOCKER_IMAGE)")
        parser.add_argument("--print-seccomp-profile", action="store_true",
                            help="print the engine's JSON seccomp profile (e.g. for a Kubernetes Localhost profile)")

    def handle(self, *args, force=False, rootfs=None, docker_host=None, tag=None, print_seccomp_profile=False,
               **options):
        if print_seccomp_profile:
            import json

            from runtime.sandbox.docker import seccomp_profile

            self.stdout.write(json.dumps(seccomp_profile(), indent=2))
            return
        import docker
        import requests.exceptions

        from runtime.sandbox import docker_image

        base_url = docker_host or settings.SANDBOX_DOCKER_HOST
        api = docker.APIClient(base_url=base_url, timeout=600, version="auto")
        try:
            api.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
            raise CommandError(f"the Docker engine at {base_url} is not reachable: {exc}") from None
        try:
            docker_image.build_image(api, tag=tag or settings.SANDBOX_DOCKER_IMAGE, force=force, rootfs=rootfs,
                                     log=lambda line: self.stdout.write(line))
        except (RuntimeError, docker.errors.DockerException) as exc:
            raise CommandError(str(exc)) from None
