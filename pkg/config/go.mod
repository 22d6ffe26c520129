module github.com/triggerflow/triggerflow/pkg/config

go 1.26

require (
	github.com/triggerflow/triggerflow/pkg/events v0.0.0
	gopkg.in/yaml.v3 v3.0.1
)

require github.com/go-json-experiment/json v1.27.2 // indirect

replace github.com/triggerflow/triggerflow/pkg/events => ../events
