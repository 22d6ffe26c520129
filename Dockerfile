# The triggerflow image: one static binary that runs any service
# (`triggerflow ingress|dispatcher|itsm-sync|notifier|all --config FILE`) and the operator
# commands (trace, replay, redrive, config check), on distroless, as a non-root user.
#
#   make image                       # IMAGE:TAG, TAG = VERSION = git describe; never latest
#
# The build stage runs the Makefile's GO_BUILD, flag for flag (TestDockerfileBuildIsMakeBuild
# in cmd/triggerflow fails if they drift): the image is the binary CI tests.

FROM golang:1.26.8 AS build
WORKDIR /src
# The modules first (the root module and the wire contract, pkg/events), so the download
# is cached while only code changes.
COPY go.work go.work.sum go.mod go.sum ./
COPY pkg/events/go.* pkg/events/
RUN go mod download
COPY . .
# Stamped by `make image` (--build-arg); a bare `docker build` says dev/unknown.
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/triggerflow/triggerflow/internal/runtime/buildinfo.version=${VERSION} -X github.com/triggerflow/triggerflow/internal/runtime/buildinfo.commit=${COMMIT}" -o /out/triggerflow ./cmd/triggerflow

# Static, no shell, no package manager; nonroot is uid/gid 65532. PATH includes
# /usr/local/bin, so `command: [triggerflow]` in a pod spec finds the binary.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/triggerflow /usr/local/bin/triggerflow
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/triggerflow"]
CMD ["--help"]
