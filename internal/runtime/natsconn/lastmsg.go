package natsconn

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LastMsg is the data of the last message of stream on any of subjects, read with one
// direct get: any server of the stream answers (the stream needs AllowDirect,
// events.StreamSpec.Direct). jetstream.ErrMsgNotFound: no message matches.
//
// One subject may hold wildcards (e.g. scw.result.*.*.*.<operation id>): nats-server
// matches last_by_subj against its subject index, then walks the blocks it names.
// Several literal subjects go in one request (multi_last, nats-server 2.11), each looked
// up in the index, the first match answering; the server's end-of-batch message that
// follows is dropped with the request's reply subscription. BenchmarkLastMsg
// (lastmsg_test.go) measures both on a large stream.
//
// nats.go's Stream.GetLastMsgForSubject puts the subject in the request's subject for a
// direct get, where a wildcard is not allowed, and has no multi_last; orbit.go's
// jetstreamext.GetLastMsgsFor has it, but reads the batch on a subscription of its own
// per call (three protocol messages instead of one) and needs a newer nats.go.
func LastMsg(ctx context.Context, nc *nats.Conn, stream string, subjects ...string) ([]byte, error) {
	m, err := LastOf(ctx, nc, stream, subjects...)
	return m.Data, err
}

// Stored is a message read with a direct get: its subject, stream sequence and data.
type Stored struct {
	Subject string
	Seq     uint64
	Data    []byte
}

// LastOf is LastMsg with the subject and sequence of the message that answered (with
// several subjects: the one of them stored first).
func LastOf(ctx context.Context, nc *nats.Conn, stream string, subjects ...string) (Stored, error) {
	var body any
	switch len(subjects) {
	case 0:
		return Stored{}, fmt.Errorf("direct get from %s: no subject", stream)
	case 1:
		body = struct {
			LastBySubject string `json:"last_by_subj"`
		}{subjects[0]}
	default:
		body = struct {
			MultiLast []string `json:"multi_last"`
			Batch     int      `json:"batch"`
		}{subjects, 1}
	}
	filter := strings.Join(subjects, ", ")
	req, err := json.Marshal(body)
	if err != nil {
		return Stored{}, err
	}
	resp, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+stream, req)
	if err != nil {
		return Stored{}, fmt.Errorf("direct get of %s from %s: %w", filter, stream, err)
	}
	if len(resp.Data) == 0 {
		switch st := resp.Header.Get("Status"); st {
		case "404": // "Message Not Found", or "No Results" for multi_last
			return Stored{}, jetstream.ErrMsgNotFound
		case "":
		default:
			return Stored{}, fmt.Errorf("direct get of %s from %s: %s %s", filter, stream, st, resp.Header.Get("Description"))
		}
	}
	if resp.Header.Get(jetstream.StreamHeader) == "" {
		return Stored{}, fmt.Errorf("direct get of %s from %s: not a stream message (does the stream allow direct gets?)", filter, stream)
	}
	seq, err := strconv.ParseUint(resp.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return Stored{}, fmt.Errorf("direct get of %s from %s: no sequence: %w", filter, stream, err)
	}
	return Stored{Subject: resp.Header.Get(jetstream.SubjectHeader), Seq: seq, Data: resp.Data}, nil
}
