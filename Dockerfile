# meshdl in a container: `docker build --network host -t meshdl .` (see examples/compose/).
# Two stages: a build stage with the -dev packages and a Release build, and a runtime stage
# with only the shared libraries, the meshdl binary and Debian's Fashion-MNIST package,
# running as a non-root user. The runtime stage drops apt's lists and caches, docs, man
# pages and locales, and is flattened into one layer (FROM scratch + COPY), so the image
# holds only what is left. Works with the classic builder and with BuildKit.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential cmake pkg-config libzmq3-dev libczmq-dev libmsgpack-dev libopenblas-dev zlib1g-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY include include
COPY pkg pkg
COPY lib lib
COPY compress compress
COPY broker-free broker-free
COPY agents agents
COPY cli cli
COPY bench bench
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DMDL_TESTS=OFF >/dev/null \
 && cmake --build /build -j"$(nproc)" --target meshdl \
 && strip /build/meshdl

FROM ${BASE_IMAGE} AS runtime
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libczmq4 libzmq5 libmsgpackc2 libopenblas0-pthread zlib1g libmicrohttpd12 dataset-fashion-mnist \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/* \
           /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/locale/* \
 && useradd --system --uid 10001 --home-dir /results --no-create-home --shell /usr/sbin/nologin meshdl \
 && mkdir -p /results /keys /data \
 && chown meshdl:meshdl /results /keys
COPY --from=build /build/meshdl /usr/local/bin/meshdl

FROM scratch
COPY --from=runtime / /
USER meshdl
WORKDIR /results
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    OPENBLAS_NUM_THREADS=1
# Healthy once the agent has its --min-peers and is taking steps (meshdl status --help):
# the agent rewrites this status file every second; a stale one is unhealthy too.
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
    CMD ["meshdl", "status", "/tmp/meshdl-status.json"]
ENTRYPOINT ["meshdl"]
CMD ["agent", "--status", "/tmp/meshdl-status.json"]
