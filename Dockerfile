# gardener-extension-shoot-flux: a static binary on a distroless base, running as non-root.
#
#   docker build -t registry.example.com/gardener/extensions/shoot-flux:0.1.0 .
#
# The build stage is Alpine (musl), whose Rust links static executables; the final stage has
# nothing but the binary, CA certificates (for Flux's release assets) and the nonroot user.
FROM rust:1-alpine AS build
# make: the jemalloc allocator is built from its C sources.
RUN apk add --no-cache musl-dev make
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo build --release --locked -p shoot-flux --bin gardener-extension-shoot-flux \
 && cp target/release/gardener-extension-shoot-flux /gardener-extension-shoot-flux

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /gardener-extension-shoot-flux /gardener-extension-shoot-flux
USER 65532:65532
ENTRYPOINT ["/gardener-extension-shoot-flux"]
