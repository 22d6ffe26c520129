package ingress

import (
	"bytes"

	"github.com/triggerflow/triggerflow/internal/securechange"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// decodeTicket is securechange.DecodeTicketInfo plus what the ingress requires of a ticket it
// stores: exactly one <id> child of <ticket_info> (the decoder keeps the last, so
// `<id>1</id><id>2</id>` would be stored as ticket 2), and a ticket number in canonical
// decimal. Leading zeros are removed, so `<id>00012</id>` is ticket 12 on its subject,
// headers, trigger id and stored ticket, the same ticket as `<id>12</id>`; the raw XML is
// kept as received. An id of only zeros is not a ticket number. The <id> elements of the
// stages (<current_stage><id>…) are the stages' own and are not counted.
func decodeTicket(xml []byte) (events.TicketInfo, error) {
	info, err := securechange.DecodeTicketInfo(xml)
	if err != nil {
		return events.TicketInfo{}, err
	}
	if n := rootIDs(xml); n > 1 {
		return events.TicketInfo{}, badInput("ticket_info XML: <ticket_info> has %d <id> elements, want exactly one (which ticket is meant?)", n)
	}
	id, err := securechange.CanonicalTicketID(info.ID)
	if err != nil {
		return events.TicketInfo{}, badInput("ticket_info XML: <id> %v", err)
	}
	info.ID = id
	return info, nil
}

// rootIDs counts the unprefixed <id> elements that are children of the root element of
// xml, which securechange.DecodeTicketInfo has already found well-formed (so there is no DOCTYPE,
// and '<' appears only as markup, in comments, CDATA sections and processing instructions).
func rootIDs(xml []byte) int {
	depth, n := 0, 0
	for i := 0; ; {
		lt := bytes.IndexByte(xml[i:], '<')
		if lt < 0 {
			return n
		}
		i += lt
		rest := xml[i:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			i += skipPast(rest, "-->")
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			i += skipPast(rest, "]]>")
		case bytes.HasPrefix(rest, []byte("<?")):
			i += skipPast(rest, "?>")
		case bytes.HasPrefix(rest, []byte("</")):
			depth--
			i += skipPast(rest, ">")
		default: // a start tag; attribute values may hold '>'
			end, quote := 1, byte(0)
			for ; end < len(rest); end++ {
				c := rest[end]
				if quote != 0 {
					if c == quote {
						quote = 0
					}
				} else if c == '"' || c == '\'' {
					quote = c
				} else if c == '>' {
					break
				}
			}
			name := rest[1:end]
			if k := bytes.IndexAny(name, " \t\r\n/"); k >= 0 {
				name = name[:k]
			}
			if depth == 1 && string(name) == "id" {
				n++
			}
			if end < len(rest) && rest[end-1] != '/' {
				depth++
			}
			i += min(end+1, len(rest))
		}
		if i >= len(xml) {
			return n
		}
	}
}

// skipPast returns the length of b up to and including the first end, or len(b).
func skipPast(b []byte, end string) int {
	k := bytes.Index(b, []byte(end))
	if k < 0 {
		return len(b)
	}
	return k + len(end)
}
