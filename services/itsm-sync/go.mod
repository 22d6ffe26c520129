module github.com/triggerflow/triggerflow/services/itsm-sync

go 1.26.0

require (
	github.com/triggerflow/triggerflow/pkg/config v0.0.0
	github.com/triggerflow/triggerflow/pkg/events v0.0.0
	github.com/triggerflow/triggerflow/pkg/natsserver v0.0.0
	github.com/triggerflow/triggerflow/pkg/platform v0.0.0
)

replace (
	github.com/triggerflow/triggerflow/pkg/config => ../../pkg/config
	github.com/triggerflow/triggerflow/pkg/events => ../../pkg/events
	github.com/triggerflow/triggerflow/pkg/kvgroup => ../../pkg/kvgroup
	github.com/triggerflow/triggerflow/pkg/natsserver => ../../pkg/natsserver
	github.com/triggerflow/triggerflow/pkg/platform => ../../pkg/platform
)
