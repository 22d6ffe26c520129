package bus_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/triggerflow/triggerflow/internal/runtime/bus"
)

func TestMarshalerRoundTrip(t *testing.T) {
	t.Parallel()
	in := message.NewMessage("0123456789abcdef0123456789abcdef", []byte(`{"a":1}`))
	in.Metadata.Set("Scw-Trigger-Id", "0123456789abcdef0123456789abcdef")
	in.Metadata.Set("Scw-Event", "CREATE")
	nm, err := bus.Marshaler{}.Marshal("scw.trigger.create.1", in)
	if err != nil {
		t.Fatal(err)
	}
	if nm.Subject != "scw.trigger.create.1" || nm.Header.Get(nats.MsgIdHdr) != in.UUID || nm.Header.Get("Scw-Event") != "CREATE" || len(nm.Header) != 3 {
		t.Fatalf("wire message: %+v", nm)
	}
	out, err := bus.Marshaler{}.Unmarshal(nm)
	if err != nil {
		t.Fatal(err)
	}
	if out.UUID != in.UUID || string(out.Payload) != `{"a":1}` || out.Metadata.Get("Scw-Event") != "CREATE" || out.Metadata.Get(nats.MsgIdHdr) != "" {
		t.Fatalf("round trip: %+v", out)
	}
}
