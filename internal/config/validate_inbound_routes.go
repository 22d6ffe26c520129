package config

import (
	"fmt"
	"strings"
)

// validateInboundRoutes checks inbound_routes: unique names, a server with a callback
// endpoint, at least one action, each action as a route's, a create first only; and
// that no outbound route creates a ticket.
func (c *Config) validateInboundRoutes(v *validator) {
	for i, r := range c.Routes {
		for j, a := range r.Actions {
			if a.SecureChange != nil && a.SecureChange.Create != nil {
				v.add(fmt.Sprintf("routes[%d].actions[%d].securechange.create", i, j), "creates a ticket from an ITSM callback: it belongs in inbound_routes")
			}
		}
	}
	seen := map[string]bool{}
	for i, r := range c.InboundRoutes {
		path := fmt.Sprintf("inbound_routes[%d]", i)
		v.uniqueName(path+".name", r.Name, seen)
		switch s, ok := c.Servers[r.Server]; {
		case r.Server == "":
			v.add(path+".server", "is required: the server whose callbacks the route acts on")
		case !ok:
			v.add(path+".server", fmt.Sprintf("%q is not a configured server (servers: %s)", r.Server, strings.Join(serverNames(c.Servers), ", ")))
		case s.Inbound == nil:
			v.add(path+".server", fmt.Sprintf("server %q has no callback endpoint: add servers.%s.inbound", r.Server, r.Server))
		}
		if len(r.Actions) == 0 {
			v.add(path+".actions", "an inbound route needs at least one action")
		}
		seenAction := map[string]bool{}
		for j, a := range r.Actions {
			c.validateAction(v, fmt.Sprintf("%s.actions[%d]", path, j), a, j, seenAction)
			if j > 0 && a.SecureChange != nil && a.SecureChange.Create != nil {
				v.add(fmt.Sprintf("%s.actions[%d].securechange.create", path, j), "a route creates a ticket with its first action (the actions after it act on the new ticket)")
			}
		}
	}
}

// create checks a ticket to create.
func (v *validator) create(path string, cr *CreateTicket) {
	if cr == nil {
		return
	}
	if strings.TrimSpace(cr.Workflow) == "" {
		v.add(path+".workflow", "is required: the SecureChange workflow of the new ticket")
	}
	if strings.TrimSpace(cr.Subject) == "" {
		v.add(path+".subject", "is required")
	}
	if !strings.Contains(cr.Priority, "#") && !strings.Contains(cr.Priority, "{{") {
		v.oneOf(path+".priority", cr.Priority, "", "Low", "Normal", "High", "Critical")
	}
	for i, r := range cr.AccessRequests {
		p := fmt.Sprintf("%s.access_requests[%d]", path, i)
		if r.Sources == "" || r.Destinations == "" || r.Services == "" {
			v.add(p, "sources, destinations and services are required (Any and any are values)")
		}
	}
}
