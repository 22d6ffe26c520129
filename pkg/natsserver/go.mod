module github.com/triggerflow/triggerflow/pkg/natsserver

go 1.26.0

require (
	github.com/nats-io/nats-server/v2 v2.15.2
	github.com/nats-io/nats.go v1.55.0
	github.com/nats-io/nkeys v0.4.16
	github.com/triggerflow/triggerflow/pkg/config v0.0.0
	github.com/triggerflow/triggerflow/pkg/events v0.0.0
	github.com/triggerflow/triggerflow/pkg/platform v0.0.0
	go.uber.org/fx v1.24.0
)

require (
	github.com/antithesishq/antithesis-sdk-go v0.8.0-default-no-op // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/nats-io/jwt/v2 v2.8.2 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	go.uber.org/dig v1.19.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.26.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/time v0.16.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)

replace (
	github.com/triggerflow/triggerflow/pkg/config => ../config
	github.com/triggerflow/triggerflow/pkg/events => ../events
	github.com/triggerflow/triggerflow/pkg/platform => ../platform
)
