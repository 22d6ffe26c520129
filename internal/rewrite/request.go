package rewrite

import (
	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// pluginRequest is what one run of a plugin is sent, before encoding.
type pluginRequest struct {
	Plugin   string
	FirstRun bool
	Run      int
	Trigger  *events.TriggerEvent
	Ticket   *securechange.Ticket // nil: not enriched
	Plan     *events.Plan
}

// kv is one key and value of the input, in order.
type kv struct{ k, v string }

func (q *pluginRequest) triggerPairs() []kv {
	e := q.Trigger
	return []kv{
		{"trigger_id", e.ID}, {"event", string(e.Event)}, {"ticket", e.Ticket.ID},
		{"subject", e.Ticket.Subject}, {"args", e.Args}, {"script", e.Script},
		{"create_date", e.Ticket.CreateDate}, {"update_date", e.Ticket.UpdateDate},
	}
}

type namedStage struct {
	key   string
	stage *events.Stage
}

func (q *pluginRequest) triggerStages() []namedStage {
	var out []namedStage
	for _, s := range []namedStage{
		{"current_stage", q.Trigger.Ticket.CurrentStage},
		{"completion_stage", q.Trigger.Ticket.CompletionStage},
		{"open_request_stage", q.Trigger.Ticket.OpenRequestStage},
	} {
		if s.stage != nil {
			out = append(out, s)
		}
	}
	return out
}

func (q *pluginRequest) ticketPairs() []kv {
	t := q.Ticket
	if t == nil {
		return []kv{{"enriched", "false"}, {"id", q.Trigger.Ticket.ID}, {"subject", q.Trigger.Ticket.Subject}}
	}
	step := ""
	if t.CurrentStep != nil {
		step = t.CurrentStep.Name
	}
	return []kv{
		{"enriched", "true"}, {"id", t.ID}, {"subject", t.Subject},
		{"workflow", t.Workflow.Name}, {"workflow_id", t.Workflow.ID},
		{"requester", t.Requester}, {"requester_id", t.RequesterID},
		{"priority", t.Priority}, {"status", t.Status}, {"domain", t.Domain},
		{"current_step", step},
	}
}

// ticketFields are the fields of the latest step, the first of each name, with their
// values as securechange.Ticket.Value gives them.
func (q *pluginRequest) ticketFields() []kv {
	t := q.Ticket
	if t == nil || len(t.Steps) == 0 {
		return nil
	}
	var out []kv
	seen := map[string]bool{}
	for _, task := range t.Steps[len(t.Steps)-1].Tasks {
		for _, f := range task.Fields {
			if f.Name == "" || seen[f.Name] {
				continue
			}
			seen[f.Name] = true
			v, _ := t.Value(f.Name)
			out = append(out, kv{f.Name, v})
		}
	}
	return out
}
