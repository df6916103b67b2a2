# ferry in a container: the programs, the driver, its SQL and the man pages,
# on Debian bookworm, run as a user without privileges.
#
#   podman build -t ferry .          (or docker build)
#   podman run --rm ferry ferry --help
#
# How to run ferry and ferry-serve from it: docs/operations.md.
# DEBIAN: the base image (a tag, never "latest"); docs/operations.md says
# how this image was built where no registry can be reached.
ARG DEBIAN=debian:bookworm-slim

# ---- build: compilers and headers (scripts/install-deps.sh's build packages) ----
FROM ${DEBIAN} AS build
RUN apt-get update \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		gcc make pkg-config libc6-dev libpq-dev libmsgpack-dev libzstd-dev libxxhash-dev \
		libssl-dev libmicrohttpd-dev \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" FLAVOR=release all \
	&& make install PREFIX=/usr/local DESTDIR=/out

# ---- run: the libraries, and what the driver runs (psql, ps, zstd) ----
FROM ${DEBIAN}
RUN apt-get update \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		libpq5 libmsgpackc2 libzstd1 libxxhash0 libssl3 libmicrohttpd12 \
		postgresql-client-15 procps zstd ca-certificates curl man-db \
	&& rm -rf /var/lib/apt/lists/*
COPY --from=build /out/usr/local/ /usr/local/
RUN useradd --create-home --home-dir /home/ferry --uid 10001 --user-group --shell /bin/bash ferry
USER ferry
WORKDIR /home/ferry
# ferry-serve's port (it listens on 127.0.0.1 unless told: --listen 0.0.0.0:9471)
EXPOSE 9471
CMD ["ferry", "--help"]
