package events

import (
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// The wire types (triggers, plans, operations, specs, results) are encoded with
// encoding/json's semantics and field names, by the implementation that Go 1.27 ships as
// encoding/json (github.com/go-json-experiment/json/v1 is that implementation's v1 API,
// the mirror of the standard library's; with Go 1.27 it aliases it). The values and the
// bytes are those of encoding/json's Encoder with SetEscapeHTML(false), as wireOptions
// says (TestCodecMatchesEncodingJSON; an error may name a field's path more precisely);
// decoding an operation takes
// half the time and a quarter of the allocations (BenchmarkUnmarshalOperation), and every
// service decodes one per message.

// wireOptions are encoding/json's, as an Encoder with SetEscapeHTML(false) has them:
// "<", ">" and "&" are written as they are, so a trigger's raw_xml, which every
// operation carries, and the templates in specs stay readable in `nats stream view`
// and take one byte each, not six (a ticket_info's tags doubled its size).
var wireOptions = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsontext.EscapeForHTML(false))

// marshal encodes v as encoding/json's Encoder with SetEscapeHTML(false) does, without
// the newline.
func marshal(v any) ([]byte, error) { return jsonv2.Marshal(v, wireOptions) }

// unmarshal decodes b into v as encoding/json.Unmarshal does.
func unmarshal(b []byte, v any) error { return jsonv1.Unmarshal(b, v) }
