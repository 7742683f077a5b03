# The `alpes` binary (alpes serve, alpes relay, alpes tracking), for docker-compose's `app`
# profile. Needs a .dockerignore that leaves out target/ and .git/ (the build context
# would otherwise carry gigabytes of build artefacts).

# --- build ------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
# libssl-dev, pkg-config: the `pulsar` crate's TLS (native-tls). Its protoc comes from
# the protoc-bin-vendored crate (scripts/protoc), so none is installed here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# --locked: exactly the dependency versions the tests ran with.
RUN cargo build --release --locked --bin alpes \
 && cp target/release/alpes /usr/local/bin/alpes

# --- run --------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home alpes \
 && mkdir -p /var/lib/alpes && chown alpes /var/lib/alpes
COPY --from=build /usr/local/bin/alpes /usr/local/bin/alpes
USER alpes
# Without DATABASE_URL the image runs on the embedded SQLite file here: mount a volume
# on it to keep the data (compose sets DATABASE_URL to its Postgres instead).
VOLUME /var/lib/alpes
# Inside a container the services must listen on every interface, not 127.0.0.1.
# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (sqlx runs each SQLite
# connection on one) an arena that keeps its high-water mark; two arenas cut the
# embedded server's peak memory by 37% under large bodies (RELIABILITY.md).
ENV MALLOC_ARENA_MAX=2 \
    ALPES_BIND=0.0.0.0:8000 \
    ALPES_TRACKING_BIND=0.0.0.0:8003 \
    ALPES_DATA_DIR=/var/lib/alpes \
    ALPES_LOG_FORMAT=json
EXPOSE 8000 8003
ENTRYPOINT ["alpes"]
CMD ["serve"]
