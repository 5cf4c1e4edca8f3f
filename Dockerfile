# Build: the release binary (templates and CSS are compiled into it).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin renke

# Run: a small Debian image, a non-root user, data in /data.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /data renke \
 && mkdir -p /data && chown renke /data
COPY --from=build /src/target/release/renke /usr/local/bin/renke
USER renke
WORKDIR /data
ENV RENKE_BIND=0.0.0.0:8080 \
    RENKE_DATABASE_URL=sqlite:///data/renke.db?mode=rwc
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["renke"]
CMD ["serve"]
