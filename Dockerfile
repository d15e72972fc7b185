# Ascolto in a container: `docker build -t ascolto .`, then e.g.
#   docker run --rm -e DISCORD_TOKEN -e ASCOLTO__DISCORD__ALERT_CHANNEL=… -v "$PWD/data:/app/data" ascolto
# The rule library and the settings are in the image (/app/rules, /app/config) and can be
# replaced by mounting folders over them; /app/data holds a SQLite store (or set
# ASCOLTO__STORE__URL to a PostgreSQL server, see "Running at scale" in the README).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ascolto \
    && strip target/release/ascolto

FROM debian:bookworm-slim
# TLS roots come with the binary (rustls, webpki roots); tini reaps and forwards SIGTERM, so
# `docker stop` is a graceful stop (duties handed over, writes in flight finished).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin ascolto \
    && mkdir -p /app/data \
    && chown ascolto /app/data
WORKDIR /app
COPY --from=build /src/target/release/ascolto /usr/local/bin/ascolto
COPY rules /app/rules
COPY config/default.toml /app/config/default.toml
COPY examples /app/examples
USER ascolto
VOLUME ["/app/data"]
ENTRYPOINT ["/usr/bin/tini", "--", "ascolto"]
CMD ["run"]
