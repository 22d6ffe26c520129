package dispatcher_test

import (
	"time"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// testConfig is the dispatcher's config of the tests, for natsURL ("": the rig's own
// JetStream): one server and fast retries; mutate adjusts it.
func testConfig(natsURL string, mutate func(*config.Config)) *config.Config {
	cfg := config.Default()
	cfg.NATS.URL = natsURL
	cfg.Log.Level = "info"
	cfg.Servers = map[string]config.Server{"servicenow": {BaseURL: "https://snow.example"}}
	cfg.Dispatcher.Backoff = []time.Duration{10 * time.Millisecond}
	cfg.Dispatcher.MaxDeliver = 3
	cfg.Dispatcher.AckWait = 30 * time.Second
	cfg.Dispatcher.Instance = "dispatcher-test"
	if mutate != nil {
		mutate(cfg)
	}
	return cfg
}

// trigger builds a trigger event for ticket id with the given stages.
func trigger(event events.Trigger, id string, current, completion string) events.TriggerEvent {
	info := events.TicketInfo{ID: id, Subject: "Allow web to db", UpdateDate: "1763884860000"}
	if current != "" {
		info.CurrentStage = &events.Stage{ID: "3", Name: current}
	}
	if completion != "" {
		info.CompletionStage = &events.Stage{ID: "2", Name: completion}
	}
	info.OpenRequestStage = &events.Stage{ID: "1", Name: "Open request"}
	ev := events.NewTriggerEvent(event, info, []byte("<ticket_info/>"), "", "")
	ev.ReceivedAt = time.Now().UTC()
	ev.Ingress = "test"
	return ev
}
