# One image for the four fleet services; docker-compose.yml picks each service's command.
# Stage 1 builds the TypeScript; stage 2 carries only production dependencies and the build output.
FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY packages ./packages
COPY examples ./examples
RUN npm ci --ignore-scripts --no-audit --no-fund && npx tsc -b

FROM node:20.20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/packages ./packages
COPY --from=build /app/examples ./examples
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force \
  && mkdir -p /app/.data && chown node:node /app/.data
# The authorization server keeps its signing keys here (a volume in docker-compose.yml).
VOLUME ["/app/.data"]
USER node
CMD ["node", "examples/fleet/dist/main.js"]
