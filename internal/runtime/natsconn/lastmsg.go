package natsconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reader reads the last message of subjects in a stream: the reads a decision rests on
// (the done check, a lane's hold marker, every key-value Get of a bucket from
// EnsureBuckets). ErrMsgNotFound: no message matches.
//
// A direct get ($JS.API.DIRECT.GET) is answered by any server of the stream, a follower
// too, and a follower may not have applied a write its leader has acknowledged: on a
// 3-node cluster, reads made as soon as the write was acknowledged missed 0–13 % of the
// messages just stored, by run (TestReaderReadsItsWrites logs it). A stream with more
// than one replica is therefore read from its leader ($JS.API.STREAM.MSG.GET), which has
// every acknowledged write; a stream with one replica has one server, which answers
// direct gets (cheaper: no JSON, no base64; BenchmarkLastMsg). On a 3-node cluster the
// done check's three leader reads take 240–260 µs against 95–100 µs for one direct get
// (BenchmarkReaderOnACluster).
//
// One subject may hold wildcards (e.g. scw.result.*.*.*.<operation id>): nats-server
// matches last_by_subj against its subject index, then walks the blocks it names.
// Several literal subjects go in one direct get (multi_last, nats-server 2.11), each
// looked up in the index, the first match answering; the server's end-of-batch message
// that follows is dropped with the request's reply subscription. The leader's API has no
// multi_last: the leader is asked for each subject at once, in parallel. BenchmarkLastMsg
// (lastmsg_test.go) measures both on a large stream.
//
// nats.go's Stream.GetLastMsgForSubject puts the subject in the request's subject for a
// direct get, where a wildcard is not allowed, has no multi_last, and reads from the
// leader only when the stream does not allow direct gets; orbit.go's
// jetstreamext.GetLastMsgsFor has multi_last, but reads the batch on a subscription of
// its own per call (three protocol messages instead of one) and needs a newer nats.go.
type Reader struct {
	NC *nats.Conn
	// Leader reads from each stream's leader instead of from any of its servers.
	Leader bool
}

// ReaderFor is the Reader of a deployment whose streams and buckets have replicas
// replicas (config nats.replicas).
func ReaderFor(nc *nats.Conn, replicas int) Reader { return Reader{NC: nc, Leader: replicas > 1} }

// Stored is a message read from a stream: its subject, stream sequence, headers, data
// and the time it was stored.
type Stored struct {
	Subject string
	Seq     uint64
	Header  nats.Header
	Data    []byte
	Time    time.Time
}

// readTimeout bounds a read whose context has no earlier deadline: a stream without a
// leader (an election) does not answer its API at all.
const readTimeout = 5 * time.Second

// Last is the last message of stream on any of subjects (with several subjects: the one
// of them stored first).
func (r Reader) Last(ctx context.Context, stream string, subjects ...string) (Stored, error) {
	if len(subjects) == 0 {
		return Stored{}, fmt.Errorf("read from %s: no subject", stream)
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	if !r.Leader {
		return r.direct(ctx, stream, subjects)
	}
	if len(subjects) == 1 {
		return r.leader(ctx, stream, subjects[0])
	}
	type read struct {
		m   Stored
		err error
	}
	reads := make(chan read, len(subjects))
	for _, s := range subjects {
		go func() {
			m, err := r.leader(ctx, stream, s)
			reads <- read{m, err}
		}()
	}
	var first Stored
	var errs []error
	for range subjects {
		rd := <-reads
		switch {
		case errors.Is(rd.err, jetstream.ErrMsgNotFound):
		case rd.err != nil:
			errs = append(errs, rd.err)
		case first.Seq == 0 || rd.m.Seq < first.Seq:
			first = rd.m
		}
	}
	switch {
	case len(errs) > 0:
		return Stored{}, errors.Join(errs...)
	case first.Seq == 0:
		return Stored{}, jetstream.ErrMsgNotFound
	}
	return first, nil
}

// direct is one direct get of the last message on any of subjects.
func (r Reader) direct(ctx context.Context, stream string, subjects []string) (Stored, error) {
	var body any
	if len(subjects) == 1 {
		body = struct {
			LastBySubject string `json:"last_by_subj"`
		}{subjects[0]}
	} else {
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
	resp, err := r.NC.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+stream, req)
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
	at, _ := time.Parse(time.RFC3339Nano, resp.Header.Get(jetstream.TimeStampHeaer))
	return Stored{Subject: resp.Header.Get(jetstream.SubjectHeader), Seq: seq, Header: resp.Header, Data: resp.Data, Time: at}, nil
}

// leader reads the last message on subject from the stream's leader.
func (r Reader) leader(ctx context.Context, stream, subject string) (Stored, error) {
	m, err := MsgGet(ctx, r.NC, stream, struct {
		LastBySubject string `json:"last_by_subj"`
	}{subject})
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return Stored{}, fmt.Errorf("read %s from the leader of %s: %w", subject, stream, err)
	}
	return m, err
}

// MsgGet is one $JS.API.STREAM.MSG.GET of stream, which its leader answers: req is the
// request's JSON body (last_by_subj; seq, with next_by_subj for the first message on a
// subject from seq). jetstream.ErrMsgNotFound: no message matches.
func MsgGet(ctx context.Context, nc *nats.Conn, stream string, req any) (Stored, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Stored{}, err
	}
	resp, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		return Stored{}, err
	}
	var got struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Header  []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &got); err != nil {
		return Stored{}, fmt.Errorf("not a message get answer: %w", err)
	}
	switch {
	case got.Error != nil && got.Error.ErrCode == int(jetstream.JSErrCodeMessageNotFound):
		return Stored{}, jetstream.ErrMsgNotFound
	case got.Error != nil:
		return Stored{}, fmt.Errorf("%s (%d, %d)", got.Error.Description, got.Error.Code, got.Error.ErrCode)
	case got.Message == nil:
		return Stored{}, errors.New("an answer with neither message nor error")
	}
	m := Stored{Subject: got.Message.Subject, Seq: got.Message.Seq, Data: got.Message.Data, Time: got.Message.Time}
	if len(got.Message.Header) > 0 {
		if m.Header, err = nats.DecodeHeadersMsg(got.Message.Header); err != nil {
			return Stored{}, fmt.Errorf("message %d: headers: %w", m.Seq, err)
		}
	}
	return m, nil
}
