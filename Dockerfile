# syntax=docker/dockerfile:1.7
# Deputy's image: TypeScript runs directly on Node 24 (type stripping), so
# there is no build step, only production dependencies. The final stage is
# distroless: no shell, no package manager, a numeric non-root user, and
# nothing written outside /tmp (the manifests mount it as an emptyDir), so
# it runs with readOnlyRootFilesystem.
#
#   docker build -t deputy:dev .
#   docker run --rm deputy:dev --help

ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev leaves out the npm "node" binary, vitest, eslint, playwright...;
# no install scripts run.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force

FROM ${NODE_IMAGE} AS source
WORKDIR /app
# .dockerignore keeps tests, the local test environment, secrets and git out.
COPY . .
RUN rm -rf node_modules

FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    NODE_OPTIONS=--disable-warning=ExperimentalWarning
# Files are owned by root and read-only to the runtime user.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=source /app ./
USER 65532:65532
EXPOSE 8080 8081 9090
ENTRYPOINT ["/nodejs/bin/node", "cli/deputy.ts"]
CMD ["--help"]
