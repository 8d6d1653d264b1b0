# turtle6 appliance image (docs/docker.md).
#
#   docker build -t turtle6 .
#   docker run --cap-add NET_ADMIN --device /dev/net/tun \
#     -v ./turtle6.yaml:/etc/turtle6/turtle6.yaml:ro turtle6
#
# Build stage: TypeScript and the optional C helpers (libt6io.so, libt6crypto.so), then the dev
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
RUN npm run build && npm prune --omit=dev

# Runtime stage. iproute2 provides ip and tc (TAP setup and the `attach:` glue), procps
# provides sysctl (turtle6 silences the kernel's IPv6 on devices it owns), liburing2 is what
# libt6io.so links against, libssl3 (OpenSSL 3's libcrypto) what libt6crypto.so does.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 procps liburing2 libssl3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/native-bindings ./dist/native-bindings
COPY --from=build /app/native-bindings/build ./native-bindings/build
COPY docker/entrypoint.sh /usr/local/bin/turtle6-entrypoint
COPY docker/healthcheck.sh /usr/local/bin/turtle6-healthcheck
# The process stays root: opening TAPs and installing the tc glue need CAP_NET_ADMIN, and so
# do stopping (the glue is removed) and reloads that restart a port (docs/docker.md).
ENV TURTLE6_CONFIG=/etc/turtle6/turtle6.yaml
# Prometheus metrics; the config must listen beyond loopback ("[::]:9469") to publish them.
EXPOSE 9469
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/turtle6-healthcheck"]
ENTRYPOINT ["/usr/local/bin/turtle6-entrypoint"]
