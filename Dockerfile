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
# The workspace's modules first, so the download is cached while only code changes.
COPY go.work go.work.sum ./
COPY cmd/triggerflow/go.* cmd/triggerflow/
COPY pkg/config/go.* pkg/config/
COPY pkg/events/go.* pkg/events/
COPY pkg/kvgroup/go.* pkg/kvgroup/
COPY pkg/natsserver/go.* pkg/natsserver/
COPY pkg/platform/go.* pkg/platform/
COPY pkg/sctest/go.* pkg/sctest/
COPY services/dispatcher/go.* services/dispatcher/
COPY services/ingress/go.* services/ingress/
COPY services/itsm-sync/go.* services/itsm-sync/
COPY services/notifier/go.* services/notifier/
RUN go mod download
COPY . .
# Stamped by `make image` (--build-arg); a bare `docker build` says dev/unknown.
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/triggerflow/triggerflow/pkg/platform/buildinfo.version=${VERSION} -X github.com/triggerflow/triggerflow/pkg/platform/buildinfo.commit=${COMMIT}" -o /out/triggerflow ./cmd/triggerflow

# Static, no shell, no package manager; nonroot is uid/gid 65532. PATH includes
# /usr/local/bin, so `command: [triggerflow]` in a pod spec finds the binary.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/triggerflow /usr/local/bin/triggerflow
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/triggerflow"]
CMD ["--help"]
