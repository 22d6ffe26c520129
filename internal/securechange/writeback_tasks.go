package securechange

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/triggerflow/triggerflow/internal/failure"
)

// currentStep is the ticket's current step: the latest step whose id (or, without
// one, name) is "current_step"'s, else the latest step (SecureChange lists the steps
// reached so far; seed 000's script takes the last). ok is false for a closed ticket.
func currentStep(t Ticket) (Step, bool) {
	i, ok := currentIndex(t)
	if !ok {
		return Step{}, false
	}
	return t.Steps[i], true
}

// currentIndex is the index of currentStep in t.Steps.
func currentIndex(t Ticket) (int, bool) {
	cur := t.CurrentStep
	if cur == nil || len(t.Steps) == 0 {
		return 0, false
	}
	for i := len(t.Steps) - 1; i >= 0; i-- {
		s := t.Steps[i]
		if (cur.ID != "" && s.ID == cur.ID) || (cur.ID == "" && cur.Name != "" && s.Name == cur.Name) {
			return i, true
		}
	}
	return len(t.Steps) - 1, true
}

// openTasks are the tasks of step that are not DONE.
func openTasks(step Step) []Task {
	var out []Task
	for _, tk := range step.Tasks {
		if !strings.EqualFold(tk.Status, taskDone) {
			out = append(out, tk)
		}
	}
	return out
}

// theOpenTask is the one open task of step.
func theOpenTask(ticketID, op string, step Step) (Task, error) {
	open := openTasks(step)
	switch len(open) {
	case 1:
		return open[0], nil
	case 0:
		return Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: every task of the current step %q is done", ticketID, op, step.Name))
	}
	return Task{}, failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: step %q has %d open tasks (%s); cannot choose",
		ticketID, op, step.Name, len(open), taskNames(open)))
}

// taskPath is /tickets/{id}/steps/{step}/tasks/{task}. A step without an id is
// addressed as "current" (as Tufin's SDK does); a task without one is an error.
func taskPath(ticketID, op string, step Step, task Task) (string, error) {
	if task.ID == "" {
		return "", failure.Permanent(fmt.Errorf("securechange: ticket %s: %s: the current task of step %q has no id in the ticket JSON", ticketID, op, step.Name))
	}
	stepID := step.ID
	if stepID == "" {
		stepID = "current"
	}
	return "/tickets/" + ticketID + "/steps/" + stepID + "/tasks/" + task.ID, nil
}

// hasFields reports whether task has a field of every name.
func hasFields(task Task, names []string) bool {
	for _, n := range names {
		found := false
		for _, f := range task.Fields {
			if f.Name == n {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// approveRejectField is the first approve_reject field of task.
func approveRejectField(task Task) (Field, bool) {
	for _, f := range task.Fields {
		if f.Type == "approve_reject" {
			return f, true
		}
	}
	return Field{}, false
}

// fieldNames lists the fields of tasks, with their types, for an error message.
func fieldNames(tasks []Task) string {
	var names []string
	seen := map[string]bool{}
	for _, tk := range tasks {
		for _, f := range tk.Fields {
			if !seen[f.Name] {
				seen[f.Name] = true
				names = append(names, strconv.Quote(f.Name)+" ("+f.Type+")")
			}
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func quoteAll(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return strings.Join(out, ", ")
}

func taskNames(tasks []Task) string {
	var out []string
	for _, tk := range tasks {
		s := "task " + tk.ID
		if tk.Name != "" {
			s += " " + strconv.Quote(tk.Name)
		}
		if tk.Assignee != "" {
			s += " assigned to " + tk.Assignee
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func stepNames(steps []Step) string {
	if len(steps) == 0 {
		return "none"
	}
	var out []string
	for _, s := range steps {
		out = append(out, strconv.Quote(s.Name))
	}
	return strings.Join(out, ", ")
}
