# The Lifeboat worker image (used by docker-compose.yml as the lifeboat-worker service).
#   docker build -t lifeboat-worker .
# The TypeScript sources run through tsx, as `npm run worker` does: there is no compile step, so the
# image holds the production dependencies and the source folders the worker (and the CLI) load.

# --- build: production node_modules, with the native better-sqlite3 addon compiled here ---------
FROM node:20-bookworm AS build

RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# node-gyp builds against the headers this Node release ships in /usr/local/include/node,
# instead of downloading them.
ENV npm_config_nodedir=/usr/local

COPY package.json package-lock.json ./
# tsx, @temporalio/*, better-sqlite3 and openpgp are runtime dependencies; typescript, jest, eslint
# and the test server are dev dependencies and stay out of the image.
RUN npm ci --omit=dev --no-audit --no-fund \
  && node -e "require('better-sqlite3')(':memory:').close()"

# --- runtime: slim image, no compilers, non-root ----------------------------------------------
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    LIFEBOAT_CONFIG=/etc/lifeboat/lifeboat.config.json \
    LIFEBOAT_TASK_QUEUE=lifeboat

WORKDIR /app

COPY --from=build /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY common ./common
COPY config ./config
COPY workflows ./workflows
COPY runbooks ./runbooks
COPY activities ./activities
COPY worker ./worker
COPY client ./client
# The `lifeboat` CLI, so `docker compose exec lifeboat-worker node bin/lifeboat.js audit verify`
# can read the ledger on the worker's volume.
COPY bin ./bin

# The audit ledger and the targets' files live on a volume owned by the unprivileged `node` user
# (uid 1000) that the node images provide; the code above stays root-owned and read-only to it.
RUN mkdir -p /var/lib/lifeboat /etc/lifeboat \
  && chown node:node /var/lib/lifeboat
VOLUME /var/lib/lifeboat

USER node

# node itself runs the worker (tsx as a loader, not as a wrapper process), so `docker stop`'s
# SIGTERM reaches the worker and it drains before exiting.
# Fewer glibc malloc arenas: the worker streams gigabytes through threadpool work (zlib, fs), and
# per-thread arenas would otherwise keep tens of MB (README, "Worker memory").
ENV MALLOC_ARENA_MAX=2
# The image has no .git: the commit the worker names as its build comes from the build
# (`docker compose build --build-arg LIFEBOAT_COMMIT=$(git rev-parse --short=12 HEAD)`).
ARG LIFEBOAT_COMMIT=unknown
ENV LIFEBOAT_COMMIT=$LIFEBOAT_COMMIT
CMD ["node", "--require", "tsx/cjs", "worker/main.ts"]
