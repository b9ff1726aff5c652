# syntax=docker/dockerfile:1
# Image of red5-token-service. Build it from the repository root:
#   docker build -t red5-token-service:0.1.0 .
# It serves gRPC, gRPC-Web and Connect on port 8080 and the admin HTTP server (/metrics, /livez,
# /readyz) on port 9090. Settings come from the environment or from the file CONFIG_FILE names.
# The master credentials come at run time (RED5_MASTER_KEY_FILE and RED5_MASTER_SECRET_FILE), never
# from the image. deploy/README.md describes running it on Kubernetes.

# NOTE: the base image is pinned by tag only. Pin its digest too (node:20.20.2-bookworm-slim@sha256:...)
# so that a rebuilt tag cannot change the image unnoticed.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# Compiles TypeScript to dist/. Install scripts are skipped because the build needs only
# TypeScript and type packages, none of which has one.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gen/ts ./gen/ts
COPY src ./src
RUN npm run build

# Installs the runtime dependencies alone, without devDependencies.
FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
WORKDIR /app
# package.json declares "type": "module" for dist/, so Node loads it as ES modules without
# guessing each file's module type.
COPY package.json ./
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The files stay owned by root and the process runs as the image's unprivileged node user
# (1000:1000), so it cannot change its own code, and the root filesystem can be mounted read-only:
# the service writes only to standard output and standard error.
USER 1000:1000
ENV HOST=0.0.0.0 \
    ADMIN_HOST=0.0.0.0
EXPOSE 8080 9090
# Exec form, so Node runs as PID 1 and receives SIGTERM itself. PID 1 gets no default signal
# actions, but the service handles SIGTERM, SIGINT and SIGHUP. Its only child processes are its
# own workers (WORKERS above 1), which Node reaps itself, so no init process such as tini or
# docker run --init is needed.
ENTRYPOINT ["node", "dist/src/main.js"]
