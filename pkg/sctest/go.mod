module github.com/triggerflow/triggerflow/pkg/sctest

go 1.26
