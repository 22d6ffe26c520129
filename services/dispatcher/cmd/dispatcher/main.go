// Command dispatcher runs the triggerflow dispatcher on its own, against the NATS server
// of nats.url (it has no embedded server; `triggerflow all` does).
package main

import (
	"github.com/triggerflow/triggerflow/pkg/platform/servicemain"
	"github.com/triggerflow/triggerflow/services/dispatcher"
)

func main() { servicemain.Run("dispatcher", dispatcher.Module) }
