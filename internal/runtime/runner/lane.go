package runner

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/triggerflow/triggerflow/internal/runtime/bus"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/pkg/events"
)

// A lane (one ticket, one destination) keeps its order when an operation fails for
// good: the failed operation (the head) is dead-lettered and recorded in scw_parked
// (events.Park); every later operation of the lane that arrives is set aside in
// SCW_PARKED instead of being performed. When the head comes back (redriven) and
// succeeds, or is skipped (Scw-Skip: true), the parked operations are republished to
// their lane in their original order and listed in the park record's Release: until
// they have run, in that order, anything else of the lane is set aside behind them.
//
// Each lane is one ordered consumer (one message in flight across every replica), so
// the park record of a ticket is only ever changed by the one handler holding its lane's
// message; compare-and-set guards against a replica that outlived its ack wait.

// parkRead is the outcome of reading a park record.
type parkRead struct {
	p   *parkRecord
	err error
}

// parkRecord is a lane's park record and its revision.
type parkRecord struct {
	events.Park
	rev uint64
}

// lets reports whether the operation id may run in a lane with this record: it is the
// failed head coming back, or the next one to release.
func (p *parkRecord) lets(id string) bool {
	if p.Head != "" {
		return p.Head == id
	}
	return len(p.Release) == 0 || p.Release[0] == id
}

// behind is the operation a parked one waits for.
func (p *parkRecord) behind() string {
	if p.Head != "" {
		return p.Head
	}
	if len(p.Release) > 0 {
		return p.Release[0]
	}
	return ""
}

// park reads the lane's park record (nil: the lane is not held back).
func (r *Runner) park(ctx context.Context, op events.Operation) (*parkRecord, error) {
	e, err := r.Parked.Get(ctx, op.Lane())
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", events.BucketParked, op.Lane(), err)
	}
	p := &parkRecord{rev: e.Revision()}
	if err := json.Unmarshal(e.Value(), &p.Park); err != nil {
		return nil, fmt.Errorf("%s %s is not a park record: %w", events.BucketParked, op.Lane(), err)
	}
	return p, nil
}

// savePark writes the record with compare-and-set (create when rev is 0).
func (r *Runner) savePark(ctx context.Context, key string, p *parkRecord) error {
	b, err := json.Marshal(p.Park)
	if err != nil {
		return err
	}
	if p.rev == 0 {
		p.rev, err = r.Parked.Create(ctx, key, b)
	} else {
		p.rev, err = r.Parked.Update(ctx, key, b, p.rev)
	}
	if err != nil {
		return fmt.Errorf("write %s %s: %w", events.BucketParked, key, err)
	}
	return nil
}

// parkHead records that j's operation failed for good: the lane's later operations
// wait behind it.
func (r *Runner) parkHead(ctx context.Context, j *Job, reason string) error {
	for range 5 {
		p, err := r.park(ctx, j.Op)
		if err != nil {
			return err
		}
		if p == nil {
			p = &parkRecord{Park: events.Park{Since: r.now().UTC()}}
		}
		p.Head, p.HeadRoute, p.HeadAct, p.Error, p.Release = j.Op.ID, j.Op.Route, j.Op.Action, reason, nil
		if r.Results { // the hold marker first: never a park record without one (holds.go)
			b, err := json.Marshal(p.Park)
			if err == nil {
				err = r.hold(ctx, j.Op.Lane(), b)
			}
			if err != nil {
				return err
			}
		}
		if err = r.savePark(ctx, j.Op.Lane(), p); err == nil {
			return nil
		} else if !natsconn.IsWrongRevision(err) && !errors.Is(err, jetstream.ErrKeyExists) {
			return err
		}
	}
	return fmt.Errorf("write %s %s: too many concurrent changes", events.BucketParked, j.Op.Lane())
}

// setAside parks j's operation behind the lane's head (or the operations being
// released): it is stored on scw.parked.<target>.<ticket> with where it was going and
// its original order, a parked result says so, and the message is acked.
func (r *Runner) setAside(j *Job, p *parkRecord) error {
	ctx, cancel := r.recordContext(j)
	defer cancel()
	behind := p.behind()
	order := j.Msg.Metadata.Get(events.HdrOrder)
	if order == "" {
		order = j.Msg.Metadata.Get(bus.MetaStreamSeq)
	}
	pm := message.NewMessage("parked-"+j.Op.ID+"-"+j.Msg.Metadata.Get(bus.MetaStreamSeq), j.Msg.Payload)
	for k, v := range j.Msg.Metadata {
		switch k {
		case bus.MetaDelivered, bus.MetaStreamSeq, bus.MetaSubject, bus.MetaTimestamp, bus.MetaNakDelay:
		default:
			pm.Metadata.Set(k, v)
		}
	}
	pm.Metadata.Set(events.HdrOriginalSubject, j.Msg.Metadata.Get(bus.MetaSubject))
	pm.Metadata.Set(events.HdrParkedBehind, behind)
	pm.Metadata.Set(events.HdrOrder, order)
	pm.SetContext(j.Msg.Context())
	if err := r.Pub.Publish(j.Op.ParkedSubject(), pm); err != nil {
		return r.later(j, fmt.Errorf("park: %w", err))
	}
	if p.Head != "" {
		p.Parked++
		if err := r.savePark(ctx, j.Op.Lane(), p); err != nil {
			j.Log.Debug("park count not updated", "err", err)
		}
	}
	if r.Results {
		res := r.result(j, events.ResultParked)
		res.ParkedBehind = behind
		res.Reason = "waits behind operation " + behind + " of the same ticket and destination, which failed; it runs once that one is redriven or skipped"
		if err := bus.PublishResult(r.Pub, j.Msg, res); err != nil {
			j.Log.Warn("parked result not published", "err", err)
		}
	}
	r.Metrics.outcome(r.Service, j.Op.Kind, j.Op.Target, outcomeParked)
	j.Log.Warn("operation parked behind a failed one of its ticket and destination", "behind", behind)
	j.Msg.Ack()
	return nil
}

// advance moves the lane on after j's operation finished (succeeded, skipped, or found
// done): the head releases what is parked behind it; a released operation makes way for
// the next.
func (r *Runner) advance(j *Job) error {
	if j.parkRead && j.park == nil {
		return nil // the lane was not held back when the operation began, nor since
	}
	ctx, cancel := r.recordContext(j)
	defer cancel()
	p, err := r.park(ctx, j.Op)
	if err != nil || p == nil {
		return err
	}
	switch {
	case p.Head == j.Op.ID:
		return r.release(ctx, j, p)
	case p.Head == "" && len(p.Release) > 0 && p.Release[0] == j.Op.ID:
		p.Release = p.Release[1:]
		if len(p.Release) == 0 {
			return r.release(ctx, j, p) // what was parked meanwhile, or the end of it
		}
		return r.savePark(ctx, j.Op.Lane(), p)
	}
	return nil
}

// release republishes the lane's parked operations in their original order and lists
// them in the record (deleted when nothing is parked).
func (r *Runner) release(ctx context.Context, j *Job, p *parkRecord) error {
	key, subj := j.Op.Lane(), j.Op.ParkedSubject()
	parked, last, err := r.parkedOps(ctx, subj)
	if err != nil {
		return err
	}
	if len(parked) == 0 {
		var held uint64 // the hold marker, dropped once the record is gone (holds.go)
		if r.Results {
			if held, err = r.heldSeq(ctx, key); err != nil {
				return err
			}
		}
		if err := r.Parked.Delete(ctx, key, jetstream.LastRevision(p.rev)); err != nil {
			return fmt.Errorf("delete %s %s: %w", events.BucketParked, key, err)
		}
		if held != 0 {
			r.dropHold(ctx, key, held)
		}
		if p.Head == j.Op.ID {
			j.Log.Info("lane released: nothing was parked behind it")
		}
		return nil
	}
	ids := make([]string, 0, len(parked))
	for _, m := range parked {
		out := message.NewMessage("unpark-"+m.id+"-"+strconv.FormatUint(m.seq, 10), m.data)
		for k, v := range m.header {
			switch k {
			case nats.MsgIdHdr, events.HdrParkedBehind, events.HdrOriginalSubject:
			default:
				out.Metadata.Set(k, v[0])
			}
		}
		out.SetContext(ctx) // in the trace of the operation that released it
		if err := r.Pub.Publish(m.subject, out); err != nil {
			return fmt.Errorf("release parked operation %s: %w", m.id, err)
		}
		ids = append(ids, m.id)
	}
	p.Head, p.Release, p.Parked = "", ids, 0
	if err := r.savePark(ctx, key, p); err != nil {
		return err
	}
	if err := r.purge(ctx, events.StreamParked, subj, last); err != nil {
		j.Log.Warn("released operations not purged from "+events.StreamParked+"; they are released again later and found done", "err", err)
	}
	j.Log.Info("lane released: parked operations go out in their original order", "released", len(ids))
	return nil
}

// parkedOp is one operation stored in SCW_PARKED.
type parkedOp struct {
	id, subject string
	seq, order  uint64
	data        []byte
	header      nats.Header
}

// parkedOps reads the lane's parked operations, one per operation id, in their original
// order, and the last stream sequence read.
func (r *Runner) parkedOps(ctx context.Context, subj string) ([]parkedOp, uint64, error) {
	st, err := r.JS.Stream(ctx, events.StreamParked)
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s: %w", events.StreamParked, err)
	}
	var out []parkedOp
	seen := map[string]bool{}
	var last uint64
	for seq := uint64(1); ; seq = last + 1 {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read %s %s: %w", events.StreamParked, subj, err)
		}
		last = m.Sequence
		op, err := events.UnmarshalOperation(m.Data)
		if err != nil || seen[op.ID] {
			continue
		}
		seen[op.ID] = true
		order, _ := strconv.ParseUint(m.Header.Get(events.HdrOrder), 10, 64)
		target := m.Header.Get(events.HdrOriginalSubject)
		if target == "" {
			target = op.Subject()
		}
		out = append(out, parkedOp{id: op.ID, subject: target, seq: m.Sequence, order: order, data: m.Data, header: m.Header})
	}
	slices.SortStableFunc(out, func(a, b parkedOp) int { return cmp.Compare(a.order, b.order) })
	return out, last, nil
}

// purge removes the messages of stream on subj up to and including seq: what a lane
// released (SCW_PARKED), its hold marker (SCW_RESULTS); anything newer stays.
func (r *Runner) purge(ctx context.Context, stream, subj string, seq uint64) error {
	st, err := r.JS.Stream(ctx, stream)
	if err != nil {
		return err
	}
	return st.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeSequence(seq+1))
}
