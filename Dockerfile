# syntax=docker/dockerfile:1
#
# netdns-guard container image: the admission webhook server (`serve`, the default
# command) and the certificate jobs (`certs --in-cluster`) of charts/netdns-guard.
#
#   docker build -t ghcr.io/netdns-guard/netdns-guard:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#
# Offline (no registry reachable: how scripts/test-image.sh builds it with podman):
# a binary built on the host goes in through the `prebuilt` stage and the runtime
# base is made from Debian packages by scripts/runtime-base.sh:
#
#   podman build -f Dockerfile --build-arg BINARY_SOURCE=prebuilt \
#     --build-arg RUNTIME_BASE=localhost/netdns-guard-runtime-base:debian12 DIR
#
# where DIR holds only the `netdns-guard` binary.

# Base images, overridable for mirrors and for the offline build.
ARG RUST_VERSION=1.95
ARG BUILDER_IMAGE=docker.io/library/rust:${RUST_VERSION}-bookworm
# distroless "cc" = glibc, libgcc_s and CA certificates, no shell, no package
# manager; the :nonroot variant runs as UID/GID 65532.
# Why not a static binary on distroless/static or scratch: the binary links glibc
# dynamically (the default Rust Linux target). A musl build would be static but
# musl's allocator is markedly slower under the webhook's multi-threaded load, and
# static glibc is unsupported for programs that may touch NSS. The builder
# (bookworm) and this image (Debian 12) carry the same glibc 2.36.
ARG RUNTIME_BASE=gcr.io/distroless/cc-debian12:nonroot
# Where /netdns-guard comes from: `builder` compiles it from these sources (the
# default), `prebuilt` takes ./netdns-guard from the build context.
ARG BINARY_SOURCE=builder

# Build stage: the same command CI runs (`cargo build --release --locked`), so a
# green CI proves this step; --locked refuses to touch Cargo.lock.
FROM ${BUILDER_IMAGE} AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target directory between builds (BuildKit);
# the binary is copied out of the cached target directory before the step ends,
# stripped: the release profile keeps line tables for profiling (55 of 70 MB).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin netdns-guard \
    && install -D -m 0755 --strip target/release/netdns-guard /out/netdns-guard \
    && /out/netdns-guard --version

# A binary built elsewhere, stripped like the builder's (unused, so never built, in
# the default build).
FROM scratch AS prebuilt
COPY --chmod=0755 netdns-guard /out/netdns-guard

FROM ${BINARY_SOURCE} AS binary

FROM ${RUNTIME_BASE}
ARG RUNTIME_BASE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="netdns-guard" \
      org.opencontainers.image.description="Admission webhook adding GODEBUG=netdns=go to cgo-built Go log agents" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/netdns-guard/netdns-guard" \
      org.opencontainers.image.url="https://github.com/netdns-guard/netdns-guard" \
      org.opencontainers.image.documentation="https://github.com/netdns-guard/netdns-guard/blob/main/charts/netdns-guard/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="netdns-guard" \
      org.opencontainers.image.base.name="${RUNTIME_BASE}"
COPY --from=binary /out/netdns-guard /netdns-guard
USER 65532:65532
# 8443: HTTPS admission reviews; 8080: /healthz, /readyz, /metrics (plain HTTP).
EXPOSE 8443 8080
ENTRYPOINT ["/netdns-guard"]
CMD ["serve"]
