# syntax=docker/dockerfile:1
#
# netdns-guard container image: the admission webhook server (`serve`, the default
# command) and the certificate jobs (`certs --in-cluster`) of charts/netdns-guard.
#
#   docker build -t ghcr.io/netdns-guard/netdns-guard:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#
# Build stage: the same command CI runs (`cargo build --release --locked`), so a
# green CI proves this step; --locked refuses to touch Cargo.lock.
ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target directory between builds (BuildKit);
# the binary is copied out of the cached target directory before the step ends.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin netdns-guard \
    && install -D -m 0755 target/release/netdns-guard /out/netdns-guard \
    && /out/netdns-guard --version

# Final stage: distroless "cc" = glibc, libgcc_s and CA certificates, no shell, no
# package manager; the :nonroot variant runs as UID/GID 65532.
# Why not a static binary on distroless/static or scratch: the binary links glibc
# dynamically (the default Rust Linux target). A musl build would be static but
# musl's allocator is markedly slower under the webhook's multi-threaded load, and
# static glibc is unsupported for programs that may touch NSS. The builder
# (bookworm) and this image (Debian 12) carry the same glibc 2.36.
FROM gcr.io/distroless/cc-debian12:nonroot
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
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=builder /out/netdns-guard /netdns-guard
USER 65532:65532
# 8443: HTTPS admission reviews; 8080: /healthz, /readyz, /metrics (plain HTTP).
EXPOSE 8443 8080
ENTRYPOINT ["/netdns-guard"]
CMD ["serve"]
