package events

import "time"

// Stage is a workflow step as ticket_info names it.
type Stage struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// RawElement is an unknown top-level child of <ticket_info>, kept so that no
// information SecureChange sends is lost.
type RawElement struct {
	Name string `json:"name"` // element name as written, prefix:local when prefixed
	XML  string `json:"xml"`  // outer XML, byte for byte as received
}

// TicketInfo is the ticket_info XML SecureChange hands to a trigger script on
// stdin (and the mediator forwards as base64), as the ingress decodes it
// (triggerflow's internal/securechange.DecodeTicketInfo) into a TriggerEvent:
//
//	<ticket_info>
//	    <id>1234</id>
//	    <subject>Allow web to db</subject>
//	    <createDate>1700000000000</createDate>
//	    <updateDate>1700000360000</updateDate>
//	    <current_stage><id>3</id><name>Approval</name></current_stage>
//	    <open_request_stage><id>1</id><name>Open request</name></open_request_stage>
//	    <completion_data><stage><id>2</id><name>Auto Target</name></stage></completion_data>
//	</ticket_info>
//
// Text values are trimmed of surrounding white space. A stage pointer is
// non-nil when its element was present, even if empty.
type TicketInfo struct {
	ID               string       `json:"id"`
	Subject          string       `json:"subject,omitempty"`
	CreateDate       string       `json:"create_date,omitempty"`        // exactly as given
	CreatedAt        *time.Time   `json:"created_at,omitempty"`         // set only when CreateDate is epoch milliseconds (digits only, year ≤ 9999), UTC
	UpdateDate       string       `json:"update_date,omitempty"`        // exactly as given
	UpdatedAt        *time.Time   `json:"updated_at,omitempty"`         // as CreatedAt, for UpdateDate
	CurrentStage     *Stage       `json:"current_stage,omitempty"`      // <current_stage><id/><name/></current_stage>
	CompletionStage  *Stage       `json:"completion_stage,omitempty"`   // <completion_data><stage><id/><name/></stage></completion_data>
	OpenRequestStage *Stage       `json:"open_request_stage,omitempty"` // <open_request_stage><id/><name/></open_request_stage>
	Extra            []RawElement `json:"extra,omitempty"`              // unknown elements, in order, never rejected
}
