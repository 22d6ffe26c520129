module github.com/triggerflow/triggerflow/pkg/events

go 1.26
