# syntax=docker/dockerfile:1
#
# kube-garbage-audit container image.
#
#   docker build -t ghcr.io/kube-garbage-audit/kube-garbage-audit:0.1.0 .
#
# NOTE: this image has not been built in the project's own environment: its machines have no
# container engine. Keep it in step with Cargo.toml (workspace members, rust-version) by hand.
#
# Stage 1 — build the lean release binary with the toolchain named by rust-version (1.89):
# --no-default-features leaves out the `demo` command and with it the simulated API server
# (kube-sim) and everything only it needs (scripts/check-lean-build.sh checks the dependency tree).
FROM rust:1.89-bookworm AS build
WORKDIR /src
# The whole workspace (see .dockerignore for what is left out): Cargo needs every member's
# manifest (kube-sim's too) to resolve the workspace, even though the lean build does not compile it.
COPY . .
# --locked: build exactly the dependency versions in Cargo.lock. The cache mounts keep the crate
# registry and target dir between builds (BuildKit); the binary is copied out of the cached
# target dir in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p kube-garbage-audit --no-default-features \
 && install -D -m 0755 target/release/kube-garbage-audit /out/kube-garbage-audit

# Stage 2 — distroless runtime: glibc, libgcc, CA certificates, no shell, no package manager;
# the :nonroot variant runs as uid/gid 65532, which deploy/base's securityContext also enforces.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/kube-garbage-audit /usr/local/bin/kube-garbage-audit
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/kube-garbage-audit"]
CMD ["run", "--log-format=json"]
