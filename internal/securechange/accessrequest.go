package securechange

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// The rows of a multi_access_request field as pytos builds them
// (pytos/securechange/xml_objects/restapi/step/access_request/accessrequest.py and
// Access_Request_Generator in helpers.py) and SecureChange's ticket JSON shows them
// (securechangetest.Fixture):
//
//	{"order":"AR1","use_topology":true,"targets":{"target":[{"@type":"ANY"}]},
//	 "users":{"user":["Any"]},"sources":{"source":[…]},"destinations":{"destination":[…]},
//	 "services":{"service":[…]},"action":"Accept","comment":…}
//
// with network objects {"@type":"IP","ip_address":…,"netmask":…} (IPv4) or
// {"@type":"IP","ip_address":…,"cidr":…} (IPv6: pytos notes that the netmask must be
// absent), {"@type":"RANGE","range_first_ip":…,"range_last_ip":…}, {"@type":"ANY"};
// services {"@type":"PROTOCOL","protocol":"TCP","port":443}, {"@type":"ANY"},
// {"@type":"PREDEFINED","predefined_name":…}.

// accessRequestRow is row i (0-based) of the field.
func accessRequestRow(i int, ar AccessRequest) (map[string]any, error) {
	row := fmt.Sprintf("access request %d", i+1)
	action, err := arAction(ar.Action)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", row, err)
	}
	list := func(kind string, entries []string, parse func(string) (map[string]any, error)) ([]map[string]any, error) {
		if len(entries) == 0 {
			return nil, fmt.Errorf("%s: no %ss (use \"Any\")", row, kind)
		}
		out := make([]map[string]any, 0, len(entries))
		for _, e := range entries {
			o, err := parse(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %s %q: %w", row, kind, e, err)
			}
			out = append(out, o)
		}
		return out, nil
	}
	src, err := list("source", ar.Sources, ParseAccessTarget)
	if err != nil {
		return nil, err
	}
	dst, err := list("destination", ar.Destinations, ParseAccessTarget)
	if err != nil {
		return nil, err
	}
	svc, err := list("service", ar.Services, ParseAccessService)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"order": "AR" + strconv.Itoa(i+1), "use_topology": true,
		"targets":      map[string]any{"target": []any{map[string]string{"@type": "ANY"}}},
		"users":        map[string]any{"user": []string{"Any"}},
		"sources":      map[string]any{"source": src},
		"destinations": map[string]any{"destination": dst},
		"services":     map[string]any{"service": svc},
		"action":       action,
	}
	if ar.Comment != "" {
		out["comment"] = ar.Comment
	}
	return out, nil
}

// arAction maps an action as pytos's create_multi_access_requests does.
func arAction(a string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(a)) {
	case "", "allow", "accept":
		return "Accept", nil
	case "block", "drop", "deny", "reject":
		return "Drop", nil
	case "remove":
		return "Remove", nil
	}
	return "", fmt.Errorf("action %q is not Accept, Drop or Remove", a)
}

// ParseAccessTarget parses a source or destination of an access request: "Any", an
// address, a CIDR (without host bits) or a range "first-last" of one family, into its
// SecureChange object.
func ParseAccessTarget(s string) (map[string]any, error) {
	e := strings.TrimSpace(s)
	if strings.EqualFold(e, "any") {
		return map[string]any{"@type": "ANY"}, nil
	}
	if first, last, ok := strings.Cut(e, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(first))
		b, err2 := netip.ParseAddr(strings.TrimSpace(last))
		switch {
		case err1 != nil || err2 != nil || a.Zone() != "" || b.Zone() != "":
			return nil, fmt.Errorf("not a range of two IP addresses")
		case a.Is4() != b.Is4():
			return nil, fmt.Errorf("the range mixes IPv4 and IPv6")
		case b.Less(a):
			return nil, fmt.Errorf("the range ends before it starts")
		}
		return map[string]any{"@type": "RANGE", "range_first_ip": a.String(), "range_last_ip": b.String()}, nil
	}
	var p netip.Prefix
	if strings.Contains(e, "/") {
		var err error
		if p, err = netip.ParsePrefix(e); err != nil {
			return nil, fmt.Errorf("not an IP address, CIDR, range or Any")
		}
		if p.Masked() != p {
			return nil, fmt.Errorf("host bits set (the network is %s)", p.Masked())
		}
	} else {
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("not an IP address, CIDR, range or Any")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return nil, fmt.Errorf("an IPv4-mapped IPv6 address: write it as IPv4")
	}
	if !p.Addr().Is4() {
		return map[string]any{"@type": "IP", "ip_address": p.Addr().String(), "cidr": p.Bits()}, nil
	}
	return map[string]any{"@type": "IP", "ip_address": p.Addr().String(), "netmask": netmask4(p.Bits())}, nil
}

// netmask4 is the dotted IPv4 netmask of a prefix length.
func netmask4(bits int) string {
	m := ^uint32(0) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}

// ParseAccessService parses a service of an access request: "any", "tcp PORT",
// "udp PORT" (0-65535) or the name of a predefined service, into its SecureChange
// object.
func ParseAccessService(s string) (map[string]any, error) {
	e := strings.TrimSpace(s)
	if strings.EqualFold(e, "any") {
		return map[string]any{"@type": "ANY"}, nil
	}
	if proto, port, ok := strings.Cut(e, " "); ok && (strings.EqualFold(proto, "tcp") || strings.EqualFold(proto, "udp")) {
		n, err := strconv.ParseUint(strings.TrimSpace(port), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("the port is not a number from 0 to 65535")
		}
		return map[string]any{"@type": "PROTOCOL", "protocol": strings.ToUpper(proto), "port": n}, nil
	}
	if e == "" || len(e) > 255 || strings.IndexFunc(e, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return nil, fmt.Errorf("not \"tcp PORT\", \"udp PORT\", \"any\" or the name of a predefined service")
	}
	return map[string]any{"@type": "PREDEFINED", "predefined_name": e}, nil
}
