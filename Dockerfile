# The nodepool worker and CLI: Node 24 (the version package.json pins), production dependencies from the lock
# file, qemu-img for image conversion, run as an unprivileged user. docker-compose.yml runs two workers from it;
# the CLI is `docker compose run --rm worker-1 nodepool ...`. How it was checked: docs/operations.md.
FROM node:24.21.0-bookworm-slim

# qemu-utils: qemu-img converts images (raw, qcow2, vhd); openssh-client for debugging node SSH by hand.
RUN apt-get update \
  && apt-get install -y --no-install-recommends qemu-utils ca-certificates openssh-client \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY . .
# The workflow bundles, made once here: workers in this image start without running webpack (worker/bundle.ts);
# and the CLI's bundle, so `nodepool` commands start from plain JavaScript (cli/bundle.ts).
RUN node worker/bundle.ts --warm
RUN node cli/bundle.ts --warm

RUN groupadd --system --gid 10001 nodepool \
  && useradd --system --uid 10001 --gid nodepool --home-dir /var/lib/nodepool --shell /usr/sbin/nologin nodepool \
  && mkdir -p /var/lib/nodepool/images /var/log/nodepool/builds /etc/nodepool \
  && chown -R nodepool:nodepool /var/lib/nodepool /var/log/nodepool \
  && ln -s /app/bin/nodepool.js /usr/local/bin/nodepool

USER nodepool
ENV NODE_ENV=production
# Node flags and malloc tunables: worker/node-flags.ts says why.
ENV GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072
CMD ["node", "--max-old-space-size=256", "--max-semi-space-size=4", "--heap-growing-percent=30", "bin/nodepool-worker.js"]
