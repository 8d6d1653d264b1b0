# turtle6 appliance image (docs/docker.md).
#
#   docker build -t turtle6 .
#   docker run --cap-add NET_ADMIN --device /dev/net/tun --sysctl net.ipv6.conf.default.disable_ipv6=0 \
#     -v "$PWD/turtle6.yaml:/etc/turtle6/turtle6.yaml:ro" turtle6
#
# Build stage: TypeScript and the C helpers (libt6io.so, libt6crypto.so), then the dev
# dependencies are pruned so the runtime stage copies production node_modules only.
FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev liburing-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY scripts ./scripts
COPY native-bindings ./native-bindings
COPY src ./src
# The runtime tree, assembled here so that the runtime stage copies it in one layer:
# production node_modules only, the compiled JavaScript, the C helpers, the container scripts,
# and turtle6/turtle6ctl on PATH (`docker exec CONTAINER turtle6ctl show interfaces`).
COPY docker ./docker
RUN npm run build && npm prune --omit=dev \
 && mkdir -p /out/app/dist /out/app/native-bindings /out/usr/local/bin \
 && cp -a package.json node_modules /out/app/ \
 && cp -a dist/src dist/native-bindings /out/app/dist/ \
 && cp -a native-bindings/build /out/app/native-bindings/ \
 && cp docker/entrypoint.sh /out/usr/local/bin/turtle6-entrypoint \
 && cp docker/healthcheck.sh /out/usr/local/bin/turtle6-healthcheck \
 && chmod 0755 /out/usr/local/bin/* /out/app/dist/src/app/turtle6.js /out/app/dist/src/app/turtle6ctl.js \
 && ln -s /app/dist/src/app/turtle6.js /out/usr/local/bin/turtle6 \
 && ln -s /app/dist/src/app/turtle6ctl.js /out/usr/local/bin/turtle6ctl

# Runtime stage: no compiler, no TypeScript, no dev dependencies. iproute2 provides ip and tc
# (TAP setup and the `attach:` glue), procps provides sysctl (turtle6 silences the kernel's
# IPv6 on devices it owns), liburing2 is what libt6io.so links against, libssl3 (OpenSSL 3's
# libcrypto) what libt6crypto.so does.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 procps liburing2 libssl3 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
# The process stays root: opening TAPs and installing the tc glue need CAP_NET_ADMIN, and so
# do stopping (the glue is removed) and reloads that restart a port (docs/docker.md).
ENV TURTLE6_CONFIG=/etc/turtle6/turtle6.yaml
# Prometheus metrics; the config must listen beyond loopback ("[::]:9469") to publish them.
EXPOSE 9469
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/turtle6-healthcheck"]
ENTRYPOINT ["/usr/local/bin/turtle6-entrypoint"]
