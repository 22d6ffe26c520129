package ingress_test

import (
	"testing"

	"go.uber.org/fx"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/platform/health"
	"github.com/triggerflow/triggerflow/pkg/platform/logging"
	"github.com/triggerflow/triggerflow/pkg/platform/natsconn"
	"github.com/triggerflow/triggerflow/services/ingress"
)

func TestModuleGraph(t *testing.T) {
	t.Parallel()
	err := fx.ValidateApp(fx.Supply(config.Default()), fx.NopLogger, logging.Module, natsconn.Module, health.Module, ingress.Module)
	if err != nil {
		t.Fatal(err)
	}
}
