package ingress_test

import (
	"testing"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/runtime/health"
	"github.com/triggerflow/triggerflow/internal/runtime/logging"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/services/ingress"
)

func TestModuleGraph(t *testing.T) {
	t.Parallel()
	err := fx.ValidateApp(fx.Supply(config.Default()), fx.NopLogger, logging.Module, natsconn.Module, health.Module, ingress.Module)
	if err != nil {
		t.Fatal(err)
	}
}
