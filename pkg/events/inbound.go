package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Inbound callbacks: what an ITSM server tells SecureChange (ITSM-led change, seed 000).
// The ingress stores each callback it accepts in SCW_INBOUND, once (its Nats-Msg-Id is
// InboundMsgID), on scw.inbound.<server>.<key>: key is the SecureChange ticket when the
// callback names it, else the ITSM record ("rec-" + a token of the record's value). The
// stream inserts the key's lane, like SCW_TRIGGERS, so the dispatcher acts on the
// callbacks of one ticket (or record) one after the other, in the order they were stored.
const (
	StreamInbound = "SCW_INBOUND"

	SubjInbound        = "scw.inbound.>"
	SubjInboundT       = "scw.inbound.%s.%s"    // server, key
	SubjInboundStoredT = "scw.inbound.%s.%d.%s" // server, partition, key

	// InboundEvent is the event of an inbound callback's plan and operations.
	InboundEventName Trigger = "INBOUND"
	// InboundMaxAge: callbacks are kept as long as plans, for trace and replay.
	InboundMaxAge = PlansMaxAge
)

// InboundTransform inserts the lane of the key (the last token) into SCW_INBOUND's subjects.
var InboundTransform = SubjectTransform{
	Source:      "scw.inbound.*.*",
	Destination: fmt.Sprintf("scw.inbound.{{wildcard(1)}}.{{partition(%d,2)}}.{{wildcard(2)}}", Partitions),
}

// InboundLane is the filter of the dispatcher's inbound lane p: scw.inbound.*.<p>.*.
func InboundLane(p int) string { return fmt.Sprintf("scw.inbound.*.%d.*", p) }

// InboundRecord is the ITSM record a callback is about: the correlation key it is
// stored under (e.g. sys_id) and its value.
type InboundRecord struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// InboundEvent is what the ingress stores for one callback. Its JSON is the wire
// contract.
type InboundEvent struct {
	ID     string `json:"id"`     // InboundID: the callback's own id, or a hash of its body
	Server string `json:"server"` // the configured ITSM server it came from
	// Ticket is the SecureChange ticket the callback names ("" when it names only its
	// record, or creates a ticket).
	Ticket string         `json:"ticket,omitempty"`
	Record *InboundRecord `json:"record,omitempty"`
	// Body is the callback's JSON body, as received.
	Body       json.RawMessage `json:"body"`
	ReceivedAt time.Time       `json:"received_at"`
	Ingress    string          `json:"ingress"`
}

// InboundID is the id of a callback: "<server>-" and the hex of 16 bytes of SHA-256 of
// the callback's own id (the configured JSON path, e.g. the ITSM's event id) or, when it
// has none, of its body. The ITSM's retries of one callback get one id.
func InboundID(server, callbackID string, body []byte) string {
	if callbackID != "" {
		return subjectToken(server) + "-" + hashParts("inbound/v1", server, "id", callbackID)
	}
	sum := sha256.Sum256(body)
	return subjectToken(server) + "-" + hashParts("inbound/v1", server, "body", string(sum[:]))
}

// Key is the last token of the callback's subject: the ticket, else "rec-" and the
// record's value as a token (InboundRecordToken), else "none".
func (e InboundEvent) Key() string {
	switch {
	case e.Ticket != "":
		return subjectToken(e.Ticket)
	case e.Record != nil && e.Record.Value != "":
		return "rec-" + InboundRecordToken(e.Record.Value)
	}
	return "none"
}

// Subject is the subject the ingress publishes the callback on: scw.inbound.<server>.<key>.
func (e InboundEvent) Subject() string {
	return "scw.inbound." + subjectToken(e.Server) + "." + e.Key()
}

// StoredSubject is the subject SCW_INBOUND stores it under, with the key's lane.
func (e InboundEvent) StoredSubject() string {
	return fmt.Sprintf(SubjInboundStoredT, subjectToken(e.Server), Partition(e.Key()), e.Key())
}

// Headers of the callback's message: it is the root of its chain.
func (e InboundEvent) Headers() map[string]string {
	return map[string]string{
		HdrTriggerID: e.ID, HdrCausationID: e.ID, HdrCorrelationID: e.ID,
		HdrTicketID: e.Ticket, HdrEvent: string(InboundEventName),
	}
}

// Marshal is the callback's JSON ("<", ">" and "&" not escaped).
func (e InboundEvent) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("marshal inbound callback %s: %w", e.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalInboundEvent decodes a stored callback.
func UnmarshalInboundEvent(b []byte) (InboundEvent, error) {
	var e InboundEvent
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("not an inbound callback: %w", err)
	}
	if e.ID == "" || e.Server == "" {
		return e, fmt.Errorf("not an inbound callback: no id or server")
	}
	return e, nil
}

// InboundRecordToken is a record value as a subject token and key part: the value
// itself when it is made of letters, digits, '-' and '_' (a sys_id, CHG0030001,
// NET-123), else "b64-" and its unpadded base64url.
func InboundRecordToken(v string) string {
	plain := v != "" && len(v) <= 64
	for i := 0; plain && i < len(v); i++ {
		c := v[i]
		plain = c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	}
	if plain {
		return v
	}
	return "b64-" + base64.RawURLEncoding.EncodeToString([]byte(v))
}

// RecordIndexKey is the scw_correlation key of the reverse index: which SecureChange
// ticket an ITSM record (server, correlation key, value) belongs to. Its value is the
// ticket id. itsm-sync writes it with every correlation value it stores.
func RecordIndexKey(server, key, value string) string {
	return "record." + subjectToken(server) + "." + subjectToken(key) + "." + InboundRecordToken(value)
}
