package dispatcher

import (
	"cmp"

	"github.com/triggerflow/triggerflow/internal/securechange"
)

// env is what a route's `when` condition sees (expr-lang/expr). Every name is always
// present: an unknown value is "" (or false), never missing, so conditions do not
// fail on tickets that lack something. Names:
//
//	event                          string  the trigger: "CREATE", "ADVANCE", ...
//	workflow                       string  the enriched ticket's workflow name ("" without a ticket)
//	enriched                       bool    whether the full ticket was fetched from SecureChange
//	ticket.id                      string  ticket id (from the trigger's XML without a ticket)
//	ticket.subject                 string  subject (from the trigger's XML without a ticket)
//	ticket.requester               string  requester's user name
//	ticket.status                  string  e.g. "In Progress"
//	ticket.priority                string  e.g. "Normal"
//	ticket.fields                  map[string]string  the value (securechange.Ticket.Value) of every field of
//	                                       the current step's tasks by field name, the first one when
//	                                       names repeat; a missing name gives ""
//	ticket.previous_step           string  steps[len-2]'s name
//	ticket.current_step            string  current_step's name ("" once the ticket is closed)
//	step.entered, step.left, step.in  string  the steps of the integration-point table (stepsOf)
//	trigger.args, trigger.script   string  the mediator's args and script
//	trigger.current_stage, trigger.completion_stage, trigger.open_request_stage
//	                               string  the stage names in the trigger's XML
//
// For example: ticket.fields["Risk"] == "High" && step.left == "Approval".
type env struct {
	Event    string     `expr:"event"`
	Workflow string     `expr:"workflow"`
	Enriched bool       `expr:"enriched"`
	Ticket   ticketEnv  `expr:"ticket"`
	Step     stepEnv    `expr:"step"`
	Trigger  triggerEnv `expr:"trigger"`
}

type ticketEnv struct {
	ID           string            `expr:"id"`
	Subject      string            `expr:"subject"`
	Requester    string            `expr:"requester"`
	Status       string            `expr:"status"`
	Priority     string            `expr:"priority"`
	Fields       map[string]string `expr:"fields"`
	PreviousStep string            `expr:"previous_step"`
	CurrentStep  string            `expr:"current_step"`
}

type stepEnv struct {
	Entered string `expr:"entered"`
	Left    string `expr:"left"`
	In      string `expr:"in"`
}

type triggerEnv struct {
	Args             string `expr:"args"`
	Script           string `expr:"script"`
	CurrentStage     string `expr:"current_stage"`
	CompletionStage  string `expr:"completion_stage"`
	OpenRequestStage string `expr:"open_request_stage"`
}

// noFields is the fields map of a ticket without fields; never written.
var noFields = map[string]string{}

func newEnv(in MatchInput, pos position) *env {
	info := in.Trigger.Ticket
	e := &env{
		Event: string(in.Trigger.Event),
		Ticket: ticketEnv{
			ID:      info.ID,
			Subject: info.Subject,
			Fields:  noFields,
		},
		Step: stepEnv{Entered: pos.entered, Left: pos.left, In: pos.in},
		Trigger: triggerEnv{
			Args:             in.Trigger.Args,
			Script:           in.Trigger.Script,
			CurrentStage:     stageName(info.CurrentStage),
			CompletionStage:  stageName(info.CompletionStage),
			OpenRequestStage: stageName(info.OpenRequestStage),
		},
	}
	t := in.Ticket
	if t == nil {
		return e
	}
	e.Enriched = true
	e.Workflow = t.Workflow.Name
	e.Ticket.ID = cmp.Or(t.ID, info.ID)
	e.Ticket.Subject = cmp.Or(t.Subject, info.Subject)
	e.Ticket.Requester = t.Requester
	e.Ticket.Status = t.Status
	e.Ticket.Priority = t.Priority
	if prev, ok := t.PreviousStep(); ok {
		e.Ticket.PreviousStep = prev.Name
	}
	if t.CurrentStep != nil {
		e.Ticket.CurrentStep = t.CurrentStep.Name
	}
	if f := currentFields(t); len(f) > 0 {
		e.Ticket.Fields = f
	}
	return e
}

// currentFields returns the value of every field of the current step's tasks (the
// latest step named current_step, else the latest step), the first one per name.
func currentFields(t *securechange.Ticket) map[string]string {
	if len(t.Steps) == 0 {
		return nil
	}
	step := t.Steps[len(t.Steps)-1]
	if t.CurrentStep != nil && t.CurrentStep.Name != "" {
		if s, ok := t.StepByName(t.CurrentStep.Name); ok {
			step = s
		}
	}
	// Ticket.Value looks in the latest step, so look at a ticket of this step alone.
	view := securechange.Ticket{Steps: []securechange.Step{step}}
	var out map[string]string
	for _, task := range step.Tasks {
		for _, f := range task.Fields {
			if _, dup := out[f.Name]; dup {
				continue
			}
			if out == nil {
				out = make(map[string]string)
			}
			out[f.Name], _ = view.Value(f.Name)
		}
	}
	return out
}
