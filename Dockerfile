# The product's image: the API and the worker both run from it (docker-compose.yml starts each as its own
# service). Runtime dependencies only; tsx (a runtime dependency) runs the TypeScript sources, so there is
# no build step to keep in step with them.

FROM node:20.19.5-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20.19.5-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY activities ./activities
COPY api ./api
COPY bin ./bin
COPY cli ./cli
COPY client ./client
COPY engine ./engine
COPY lib ./lib
COPY scripts ./scripts
COPY store ./store
COPY temporal ./temporal
COPY worker ./worker
COPY workflows ./workflows
# The image's own unprivileged user; the data dir is only for a generated dev key, which production does not use.
RUN mkdir -p /data && chown node:node /data
USER node
ENV SCAIVAULT_DATA_DIR=/data SCAIVAULT_HOST=0.0.0.0
EXPOSE 8200
CMD ["node", "--import", "tsx", "api/main.ts"]
