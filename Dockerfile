# syntax=docker.io/docker/dockerfile:1
#
# user-management: one static-config binary on a distroless glibc base, run
# as the non-root user 65532 ("nonroot").
#
#   docker build -t user-management .                   (Docker 23+: BuildKit)
#   podman build --format docker -t user-management .   (Podman 4+, Buildah 1.24+)
#   docker run --rm -p 127.0.0.1:8000:8000 -v user-management-data:/data user-management
#
# `--format docker` keeps the HEALTHCHECK (the OCI image format has none).
# Every base image is named with its registry and a tag, and only flags that
# both builders accept are used: .ci/check-containers.sh checks both.
#
# The image defaults to the embedded setup (SQLite and files under /data, a
# generated JWT secret in /data/jwt_secret and data encryption key in
# /data/data_encryption_key, mail written to /data/outbox/): mount a volume at
# /data to keep them. In production set DATABASE_URL (PostgreSQL), JWT_SECRET,
# DATA_ENCRYPTION_KEY, STORAGE_URL (s3://…), S3_* and SMTP_URL instead,
# and run `migrate up` once before `serve` (see docs/deployment.md).
#
# Dependency caching: cache mounts (BuildKit; Buildah 1.24+) keep the cargo
# registry and target/ between builds on the same builder, so a source change
# recompiles only this crate. Cargo locks both itself, so the mounts need no
# `sharing=locked`. (A "dummy main" layer would add nothing here: target/ is
# a cache mount, so no layer holds compiled dependencies. Cache mounts are
# not exported with --cache-to, so a fresh CI builder compiles everything.)

ARG RUST_VERSION=1.95

# ---------------------------------------------------------------- builder --
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /build

# Everything cargo needs: manifests, src/, migrations/ and templates/ (email
# templates are compiled in with include_str!). .dockerignore keeps target/,
# data/, .git/ and .env out.
COPY . .

# `touch`: COPY keeps the files' modification times, and cargo decides
# whether this crate is fresh by comparing them with the last build kept in
# the shared target/ cache; building an older checkout could otherwise reuse
# a newer binary. The binary is copied out because the cache mount is gone
# after this step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/build/target \
    touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin user-management \
 && install -D -m 0755 target/release/user-management /out/user-management

# The data directory of the embedded default. Distroless has no shell to
# create it at run time, so it is made here and copied owned by nonroot
# (a named volume mounted on /data starts with this ownership), 0700 like
# the directory the service creates itself.
RUN install -d -m 0700 /out/data

# ---------------------------------------------------------------- runtime --
# glibc (the binary links it through aws-lc), libgcc, CA certificates, tzdata;
# no shell, no package manager. About 23 MB before the binary is added.
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="user-management" \
      org.opencontainers.image.description="Accounts, login and roles as one small service" \
      org.opencontainers.image.licenses="MIT"

COPY --from=builder /out/user-management /usr/local/bin/user-management
COPY --from=builder --chown=65532:65532 /out/data /data

ENV HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data \
    DATABASE_URL=sqlite:///data/users.db \
    STORAGE_URL=file:///data/objects

# nonroot, by number so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8000

# `healthcheck` exits 0 when GET /health on HOST:PORT answers 200 (liveness
# only; /ready is the readiness probe). The first check runs one interval
# after start.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/user-management", "healthcheck"]

# SIGTERM starts a graceful shutdown bounded by SHUTDOWN_TIMEOUT (30s by
# default): give the container a longer stop timeout than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/user-management"]
CMD ["serve"]
