package events

import "strings"

// Fixtures shared by the tests of package events and of package events_test,
// which sees them as events.RealTicketXML and events.NestedTicketXML: test
// files of package events are part of the package being tested.

// RealTicketXML is the ticket_info of an ADVANCE trigger as SecureChange
// sends it.
const RealTicketXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ticket_info>
    <id>1234</id>
    <subject>Allow web to db</subject>
    <createDate>1700000000000</createDate>
    <updateDate>1700000360000</updateDate>
    <current_stage><id>3</id><name>Approval</name></current_stage>
    <open_request_stage><id>1</id><name>Open request</name></open_request_stage>
    <completion_data><stage><id>2</id><name>Auto Target</name></stage></completion_data>
</ticket_info>
`

// NestedTicketXML returns a ticket_info whose deepest element is at level
// depth.
func NestedTicketXML(depth int) string {
	inner := strings.Repeat("<x>", depth-2) + strings.Repeat("</x>", depth-2)
	return "<ticket_info><id>7</id><deep>" + inner + "</deep></ticket_info>"
}
