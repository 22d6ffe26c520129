module github.com/triggerflow/triggerflow/pkg/kvgroup

go 1.26
