# syntax=docker/dockerfile:1

# ---- build ----
# rdkafka builds its bundled librdkafka with make + a C compiler; rust:1-bookworm has both.
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin speedlead \
 && cp target/release/speedlead /usr/local/bin/speedlead

# ---- runtime ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --shell /usr/sbin/nologin speedlead
COPY --from=builder /usr/local/bin/speedlead /usr/local/bin/speedlead
# Fail the image build if the binary needs a shared library the slim image lacks.
RUN ! ldd /usr/local/bin/speedlead | grep -q "not found"
USER speedlead
EXPOSE 8080
ENTRYPOINT ["speedlead"]
CMD ["serve"]
