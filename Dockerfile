# Coupan: multi-stage build with the same pinned toolchain and tools as scripts/lib.sh.
# Offline sqlx data (.sqlx/) means no database is needed to build.

FROM rust:1-bookworm AS tools
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
COPY rust-toolchain.toml /src/rust-toolchain.toml
WORKDIR /src
RUN rustup toolchain install
RUN cargo install cargo-leptos --version 0.3.11 --locked --features no_downloads
COPY Cargo.lock /src/Cargo.lock
RUN cargo install wasm-bindgen-cli --version "$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')"
RUN npm install -g binaryen@123.0.0

FROM tools AS build
WORKDIR /src
# The sources include .cargo/config.toml: the compiler flags of every build (the server
# and its wasm must be built with the same view flags to hydrate), as in scripts/lib.sh.
COPY . .
ENV SQLX_OFFLINE=true
RUN cargo leptos build --release && cargo build --release -p paygate

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 coupan \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin coupan \
    && mkdir -p /app/data && chown 10001:10001 /app/data
WORKDIR /app
COPY --from=build /src/target/release/server /app/server
# The stand-in payment gateway: run it as its own container with the command /app/paygate
# and PAYGATE_ADDR=0.0.0.0:3002 (its health check is GET /healthz on that port; the
# HEALTHCHECK below is the app's, so override it: --health-cmd or --no-healthcheck).
COPY --from=build /src/target/release/paygate /app/paygate
COPY --from=build /src/target/site /app/site
ENV LEPTOS_OUTPUT_NAME=coupan \
    LEPTOS_SITE_ROOT=/app/site \
    LEPTOS_SITE_PKG_DIR=pkg \
    LEPTOS_SITE_ADDR=0.0.0.0:3000 \
    LEPTOS_ENV=PROD \
    COUPAN_LOG_FORMAT=json \
    COUPAN_DATA_DIR=/app/data
# Coupon pictures go to /app/data/images unless COUPAN_IMAGE_STORE names another place
# (Kubernetes: an S3 bucket, see deploy/k8s): mount a volume here to keep them.
VOLUME /app/data
# DATABASE_URL (the app's database role), JWT_SECRET and COUPAN_PAYMENT_SECRET_KEY come
# from the environment (a Secret in Kubernetes); `/app/server migrate` with
# COUPAN_MIGRATE_DATABASE_URL applies the migrations as the owner of the schema; /metrics
# is on COUPAN_METRICS_ADDR (set 0.0.0.0:9100 to scrape it from outside the container).
# See deploy/k8s. Numeric user, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD curl -fsS http://127.0.0.1:3000/healthz || exit 1
CMD ["/app/server"]
