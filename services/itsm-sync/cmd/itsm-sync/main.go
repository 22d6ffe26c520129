// Command itsm-sync runs triggerflow's itsm-sync service on its own, against the NATS server
// of nats.url (it has no embedded server; `triggerflow all` does).
package main

import (
	"github.com/triggerflow/triggerflow/pkg/platform/servicemain"
	itsmsync "github.com/triggerflow/triggerflow/services/itsm-sync"
)

func main() { servicemain.Run("itsm-sync", itsmsync.Module) }
