# wsbench in an image, for shards on Kubernetes (deploy/k8s/blast-indexed-job.yaml):
#
#   docker build -t wsbench:0.1.0 .
#   docker run --rm wsbench:0.1.0 blast ws://host.example:8000/ws -c 10k --no-save
#
# Node 24, a supported LTS line (README: Node.js versions); Node 20 is past its end of life.
# RUN --mount (the npm cache) needs BuildKit, docker build's builder by default since Docker 23.
# test/deploy.test.ts runs these steps without docker (the same commands, in temporary directories)
# and checks the commands against the README's install commands.

# Build: `npm ci` installs every dependency and its `prepare` script compiles the TypeScript with
# tsc (a devDependency) into dist/.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
RUN --mount=type=cache,target=/root/.npm npm ci

# Runtime: the dependencies wsbench runs with, without devDependencies, and the compiled dist/src.
# --ignore-scripts because `prepare` needs tsc, which --omit=dev leaves out; dist/src comes compiled
# from the build stage instead. The npm cache is a build cache mount, so it is not in the image.
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts
COPY bin ./bin
COPY --from=build /app/dist/src ./dist/src
# wsbench on PATH: the manifest runs `wsbench …` through /bin/sh -c, and the entrypoint is the same
# command. bin/wsbench.js is executable and starts with #!/usr/bin/env node.
RUN ln -s /app/bin/wsbench.js /usr/local/bin/wsbench
# The node image's unprivileged user (uid 1000). Its home is writable, so a run without --out can
# write results/ there; /app stays read-only to it.
USER node
WORKDIR /home/node
# blast serves /metrics on 9464 with --metrics-port 9464; shard 1 serves --barrier on its port (7070
# in the manifest).
EXPOSE 9464 7070
ENTRYPOINT ["wsbench"]
CMD ["--help"]
