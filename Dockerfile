# The Lifeboat image, one for both roles (docker-compose.yml): the control plane (the default
# command, bin/lifeboat-worker.js, as `npm run worker`), the agent (command
# `bin/lifeboat-worker.js agent`, as `npm run agent`) and the one-shot that makes an agent's key pair (scripts/agent-key.ts).
#   docker build -t lifeboat .
# The worker and the agent run compiled JavaScript (dist/, compiled in the `compile` stage by
# `npm run build`, as production runs them: README, "Worker memory"); the TypeScript sources stay in
# the image for the one-shot scripts that run through tsx.

# --- compile: the TypeScript compiled to dist/ (typescript is a dev dependency) --------------------
FROM node:20-bookworm AS compile
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY common ./common
COPY config ./config
COPY workflows ./workflows
COPY runbooks ./runbooks
COPY activities ./activities
COPY worker ./worker
COPY client ./client
COPY bench/lifeboat-step.ts bench/layout.ts ./bench/
COPY scripts/build.js ./scripts/build.js
RUN node scripts/build.js

# --- build: production node_modules, with the native addons (better-sqlite3, zstd-napi) compiled here
FROM node:20-bookworm AS build

RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# node-gyp builds against the headers this Node release ships in /usr/local/include/node,
# instead of downloading them, and from the sources the addons ship (no prebuilt binary fetched).
ENV npm_config_nodedir=/usr/local \
    npm_config_build_from_source=true \
    JOBS=max

COPY package.json package-lock.json ./
# tsx, @temporalio/*, better-sqlite3 and openpgp are runtime dependencies; typescript, jest, eslint
# and the test server are dev dependencies and stay out of the image.
RUN npm ci --omit=dev --no-audit --no-fund \
  && node -e "require('better-sqlite3')(':memory:').close(); new (require('zstd-napi/binding').DCtx)()"

# --- runtime: slim image, no compilers, non-root ----------------------------------------------
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    LIFEBOAT_CONFIG=/etc/lifeboat/lifeboat.config.json \
    LIFEBOAT_AGENT_CONFIG=/etc/lifeboat/lifeboat.agent.json \
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
# The `lifeboat` CLI, so that inside the control plane's container
# (`docker compose exec lifeboat-control-plane node bin/lifeboat.js audit verify`) it reads the
# ledger, and `... agents` the registry, on the control plane's volume.
COPY bin ./bin
COPY --from=compile /app/dist ./dist
COPY scripts/build.js ./scripts/build.js
# The agent's key pair, made once (the lifeboat-agent-key one-shot); no other script is needed here.
COPY scripts/agent-key.ts ./scripts/agent-key.ts

# The role's state (the control plane's ledger and catalog; an agent's targets' files, catalog and
# key) lives on a volume at /var/lib/lifeboat, and agents' public keys on one at
# /etc/lifeboat/agents, both owned by the unprivileged `node` user (uid 1000) that the node images
# provide (a new named volume takes the owner of the folder it is mounted on); the code above stays
# root-owned and read-only to it.
RUN mkdir -p /var/lib/lifeboat /etc/lifeboat/agents \
  && chown node:node /var/lib/lifeboat /etc/lifeboat/agents
VOLUME /var/lib/lifeboat

USER node

# node itself runs the worker (bin/lifeboat-worker.js loads the compiled worker in-process, no
# wrapper process), so `docker stop`'s SIGTERM reaches the worker and it drains before exiting. The
# agent is the same with the argument `agent` (docker-compose.yml's lifeboat-agent command).
# Fewer glibc malloc arenas: the worker streams gigabytes through threadpool work (zlib, fs), and
# per-thread arenas would otherwise keep tens of MB; and a small V8 young generation, given on node's
# command line (README, "Worker memory").
ENV MALLOC_ARENA_MAX=2
# The image has no .git: the commit the worker names as its build comes from the build
# (`docker compose build --build-arg LIFEBOAT_COMMIT=$(git rev-parse --short=12 HEAD)`).
ARG LIFEBOAT_COMMIT=unknown
ENV LIFEBOAT_COMMIT=$LIFEBOAT_COMMIT
CMD ["node", "--max-semi-space-size=2", "bin/lifeboat-worker.js"]
