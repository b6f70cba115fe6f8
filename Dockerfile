# The Passthru server as a container image (README: "Install in production"). compose.yaml runs
# it beside PostgreSQL.
#
# The build stage installs everything, builds the server bundle and the console, and drops the
# devDependencies; the image keeps only what `node dist/server.mjs` reads at run time.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci's postinstall (patch-package) applies these.
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=4000 \
    PASSTHRU_DATA_DIR=/var/lib/passthru/pglite
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/web/dist ./web/dist
# The embedded database's files when DATABASE_URL is unset; unused with PostgreSQL.
RUN mkdir -p /var/lib/passthru && chown node:node /var/lib/passthru
VOLUME /var/lib/passthru
USER node
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1 and handles SIGTERM (server/shutdown.ts): clients are closed with 1001
# and the pools ended within 8 s, under `docker stop`'s default 10 s.
STOPSIGNAL SIGTERM
CMD ["node", "dist/server.mjs"]
