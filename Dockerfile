# syntax=docker/dockerfile:1.7
#
# AIS Chatrooms container images.
#
#   docker build -t ais-chatrooms .                      # the server (the default, last stage: runtime)
#   docker build --target web -t ais-chatrooms-web .     # nginx with the browser bundle (/pkg) baked in
#   docker buildx build --target bundle --output type=local,dest=bundle .   # just the bundle: bundle/pkg/
#
# All of them come out of the same build stage, so they always carry the same bundle. Its file names
# carry a hash of their content (ais-chatrooms.<hash>.js, .wasm, .css); hash.txt, next to the server
# binary, tells the server which names to put into its pages. The toolchain
# matches `make build`: Rust 1.95, cargo-leptos 0.3.10, the wasm-bindgen CLI at exactly the version in
# Cargo.lock, and wasm-opt from the npm package binaryen 132 (older binaryen breaks hydration).
# Configuration happens only through environment variables at run time (see .env.example).

# --- wasm-opt: binaryen from npm, run by Node.js ---
FROM node:24-bookworm-slim AS binaryen
ARG BINARYEN_VERSION=132
RUN --mount=type=cache,target=/root/.npm,id=npm \
    npm install --prefix /opt/binaryen --no-audit --no-fund --omit=dev "binaryen@${BINARYEN_VERSION}" \
 && /opt/binaryen/node_modules/.bin/wasm-opt --version

# --- the wasm-bindgen version pinned in Cargo.lock (only this file's content keys the next layers) ---
FROM rust:1.95-bookworm AS lockfile
WORKDIR /lock
COPY Cargo.lock ./
RUN awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock > wasm-bindgen.version \
 && grep -Eq '^[0-9]+\.[0-9]+\.[0-9]+$' wasm-bindgen.version

# --- the build toolchain (cached as layers until a pinned version changes) ---
# The cache mounts have ids (cargo-registry, cargo-git, ais-chatrooms-target, npm) so that CI can carry
# their contents from one run to the next (.github/workflows/ci.yml, buildkit-cache-dance).
FROM rust:1.95-bookworm AS toolchain
ARG CARGO_LEPTOS_VERSION=0.3.10
ENV CARGO_TERM_COLOR=never
RUN rustup target add wasm32-unknown-unknown
RUN --mount=type=cache,target=/usr/local/cargo/registry,id=cargo-registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,id=cargo-git,sharing=locked \
    cargo install "cargo-leptos@${CARGO_LEPTOS_VERSION}" --locked
COPY --from=lockfile /lock/wasm-bindgen.version /tmp/wasm-bindgen.version
# With the lock file it was published with (--locked), as scripts/setup.sh does, so its dependencies do
# not drift. Where that lock cannot resolve (0.2.130's pins webpki-roots 1.0.11, which some registries
# lack), the newest compatible dependencies are taken instead; the CLI's own version is exact either way.
RUN --mount=type=cache,target=/usr/local/cargo/registry,id=cargo-registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,id=cargo-git,sharing=locked \
    { cargo install "wasm-bindgen-cli@$(cat /tmp/wasm-bindgen.version)" --locked \
      || cargo install "wasm-bindgen-cli@$(cat /tmp/wasm-bindgen.version)"; } \
 && wasm-bindgen --version | grep -q " $(cat /tmp/wasm-bindgen.version)$"
COPY --from=binaryen /usr/local/bin/node /usr/local/bin/node
COPY --from=binaryen /opt/binaryen /opt/binaryen
# cargo-leptos uses the wasm-bindgen and wasm-opt it finds on PATH instead of downloading them.
ENV PATH=/opt/binaryen/node_modules/.bin:$PATH
RUN wasm-opt --version

# --- build: `cargo leptos build --release` -> target/release/server, hash.txt and target/site ---
FROM toolchain AS build
WORKDIR /src
COPY . .
# target/ is a cache mount, so the outputs are copied out of it within the same step. hash.txt has
# one line per bundle file ("js: <hash>", "wasm: <hash>", "css: <hash>"); each named file must exist.
# target/site/pkg is emptied first: target/ persists between builds, and earlier bundles' hashed files
# would be copied along (and renamed again by the next build).
RUN --mount=type=cache,target=/usr/local/cargo/registry,id=cargo-registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,id=cargo-git,sharing=locked \
    --mount=type=cache,target=/src/target,id=ais-chatrooms-target,sharing=locked \
    set -eu; \
    cargo fetch --locked; \
    rm -rf target/site/pkg; \
    cargo leptos build --release; \
    mkdir -p /out; \
    cp target/release/server target/release/hash.txt /out/; \
    cp -R target/site /out/site; \
    for kind in js wasm css; do \
      hash="$(sed -n "s/^$kind: //p" /out/hash.txt)"; \
      test -n "$hash" || { echo "hash.txt names no $kind file" >&2; exit 1; }; \
      ls /out/site/pkg/ais-chatrooms*."$hash"."$kind" >/dev/null \
        || { echo "site/pkg has no ais-chatrooms*.$hash.$kind" >&2; exit 1; }; \
    done

# --- bundle: only the browser bundle, for uploading to the CDN's bucket (--output type=local) ---
FROM scratch AS bundle
COPY --from=build /out/site/pkg /pkg

# --- web: nginx serving /pkg from the same build and proxying everything else to the server ---
FROM nginxinc/nginx-unprivileged:1.28-alpine AS web
COPY deploy/nginx/default.conf /etc/nginx/conf.d/default.conf
COPY --from=build /out/site/pkg /usr/share/nginx/html/pkg
# The base image runs nginx as its unprivileged user (uid 101) on port 8080.
USER 101
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/nginx-health || exit 1

# --- runtime: the server binary and the site folder on a slim image, as a non-root user ---
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
# Owned by root and read-only for the server's user; only data/ is writable. The server reads hash.txt
# (the bundle's file names) from the folder it runs from.
COPY --from=build /out/server /app/server
COPY --from=build /out/hash.txt /app/hash.txt
COPY --from=build /out/site /app/site
RUN mkdir -p /app/data && chown app:app /app/data
# data/ holds the embedded SQLite database (the default DATABASE_URL, relative to /app) and the
# control plane's task files (GATEWAY_ROOT). Mount a volume here.
VOLUME ["/app/data"]
ENV LEPTOS_SITE_ADDR=0.0.0.0:3000 \
    LEPTOS_SITE_ROOT=/app/site \
    RUST_LOG=info \
    LOG_FORMAT=json
USER 10001:10001
EXPOSE 3000
# The port follows LEPTOS_SITE_ADDR, so overriding the address keeps the check working.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${LEPTOS_SITE_ADDR##*:}/healthz" || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/server"]
