# syntax=docker/dockerfile:1
# The reconciler's container image: `reconciler run` as a non-root user on a
# read-only root filesystem (deploy/base/deployment.yaml mounts the writable paths).
#
#   docker build -t ghcr.io/reconciler/reconciler:0.1.0 .
#
# Git's transport needs no system package: the pygit2 wheel bundles libgit2, libssh2
# and OpenSSL, and links only glibc and zlib, which the base image has. The git
# command line is installed for two jobs: packing the mirror's loose objects, which
# libgit2 cannot do (adapters/gitpack.py runs `git gc`), and a new mirror's first
# fetch, which git indexes on every core (adapters/gitclone.py). Commit signing
# needs ssh-keygen and gpg (installed below). HTTPS remotes
# are verified against the base image's ca-certificates.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# -- build: the package and its pinned dependencies in a venv --------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/reconciler
WORKDIR /src
# Dependencies first, from the lock, as wheels only (no compiler in this image):
# this layer is reused until requirements.lock changes.
COPY requirements.lock ./
RUN /opt/reconciler/bin/pip install --only-binary=:all: --requirement requirements.lock
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
COPY policies ./policies
# The package alone (--no-deps: everything it needs came from the lock). setuptools
# lives in pip's throw-away build environment; pip and the venv's own setuptools
# go too. pip writes the bytecode now: the running container cannot; so are the
# compiled dataclass methods the short commands keep (interfaces/methodcache.py),
# written by each command's --help.
RUN /opt/reconciler/bin/pip install --no-deps . \
 && /opt/reconciler/bin/pip uninstall --yes pip setuptools \
 && /opt/reconciler/bin/reconciler --version \
 && for c in plan validate check history stats; do \
      /opt/reconciler/bin/reconciler "$c" --help >/dev/null; done

# -- runtime: the venv and nothing else -------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="reconciler" \
      org.opencontainers.image.description="GitOps release reconciler for Flux" \
      org.opencontainers.image.source="https://github.com/reconciler/reconciler" \
      org.opencontainers.image.licenses="Apache-2.0"
# A passwd entry for 65532 (libraries that look up the user find a home), and the
# writable directories, owned by it, for runs without the Deployment's volumes.
# Commit signing (--signing-key, docs/signing.md) runs git's own signers: ssh-keygen
# (openssh-client) for SSH keys, gpg with its agent for OpenPGP keys; only the parts
# of gnupg that sign (no dirmngr, no keyserver tools). git packs the mirror (above).
RUN apt-get update \
 && apt-get install --yes --no-install-recommends git openssh-client gpg gpg-agent \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 65532 reconciler \
 && useradd --uid 65532 --gid 65532 --home-dir /home/reconciler --create-home \
      --shell /usr/sbin/nologin reconciler \
 && install -d -o 65532 -g 65532 -m 0750 /var/cache/reconciler
COPY --from=build /opt/reconciler /opt/reconciler
ENV PATH=/opt/reconciler/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/reconciler \
    XDG_CACHE_HOME=/var/cache \
    RECONCILER_CACHE_DIR=/var/cache/reconciler \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/reconciler
EXPOSE 8080
ENTRYPOINT ["reconciler"]
CMD ["run"]
