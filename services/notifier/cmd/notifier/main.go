// Command notifier runs triggerflow's notifier on its own, against the NATS server
// of nats.url (it has no embedded server; `triggerflow all` does).
package main

import (
	"github.com/triggerflow/triggerflow/pkg/platform/servicemain"
	"github.com/triggerflow/triggerflow/services/notifier"
)

func main() { servicemain.Run("notifier", notifier.Module) }
