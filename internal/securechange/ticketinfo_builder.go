package securechange

import (
	"bytes"
	"time"

	"github.com/triggerflow/triggerflow/pkg/events"
)

// ticketBuilder is the part of DecodeTicketInfo that knows ticket_info: given
// the elements and text of a ticket_info document, it decides what each
// element is, collects the fields, stages and extras, and builds the
// TicketInfo. xmlReader drives it with encoding/xml's tokens and keeps to
// itself what it rejects, and how it reports it.
//
// Element names and extras are offsets into in: an element's name is always
// taken as written there, and an element starts at the '<' just before its
// name. The builder lives on its caller's stack; so that it can, it holds no
// pointer into itself (see textArena).
type ticketBuilder struct {
	in        []byte
	stack     [MaxXMLDepth]frame
	depth     int // open elements; stack[0] is <ticket_info>
	fields    [nFields]span
	seen      [nFields]bool
	stageSeen [nStages]bool
	arena     textArena // the text of all fields and extras
	extras    extraList
}

// Fields of ticket_info collected as text; the stage fields are
// fStageID+2*stage and fStageName+2*stage.
const (
	fID = iota
	fSubject
	fCreateDate
	fUpdateDate
	fStageID
	fStageName
	nFields = fStageID + 2*nStages
)

// Stages, in the order of the stage fields.
const (
	stageCurrent = iota
	stageCompletion
	stageOpenRequest
	nStages
)

type elemKind uint8

const (
	kIgnore     elemKind = iota // anything whose content is not looked at
	kRoot                       // <ticket_info>
	kLeaf                       // an element whose text is field
	kStage                      // a stage container; its stage is stage
	kCompletion                 // <completion_data>
	kExtra                      // an unknown child of the root, starting at start
)

type frame struct {
	lo, hi int // the element's name is in[lo:hi]
	kind   elemKind
	field  uint8 // kLeaf: the field
	stage  uint8 // kStage: the stage
	start  int   // kLeaf: arena offset of its text; kExtra: input offset of its '<'
}

// span is a range of the arena.
type span struct{ lo, hi int }

// extraSpan is an extra in the arena; its name is the XML's bytes
// [1, 1+nameLen).
type extraSpan struct {
	span
	nameLen int
}

// ticketPointers holds in one allocation what the pointers of a TicketInfo
// point to.
type ticketPointers struct {
	times  [2]time.Time
	stages [nStages]events.Stage
}

// openRoot opens <ticket_info>, whose name is in[lo:hi].
func (t *ticketBuilder) openRoot(lo, hi int) {
	t.stack[0] = frame{lo: lo, hi: hi, kind: kRoot}
	t.depth = 1
}

// open opens an element inside the root whose name is in[lo:hi]. The caller
// has checked that the nesting is not too deep.
func (t *ticketBuilder) open(lo, hi int) {
	parent := &t.stack[t.depth-1]
	f := frame{lo: lo, hi: hi, kind: kIgnore}
	// Prefixed names contain ':', so they are never known elements.
	switch name := t.in[lo:hi]; parent.kind {
	case kRoot:
		switch string(name) {
		case "id":
			f.kind, f.field = kLeaf, fID
		case "subject":
			f.kind, f.field = kLeaf, fSubject
		case "createDate":
			f.kind, f.field = kLeaf, fCreateDate
		case "updateDate":
			f.kind, f.field = kLeaf, fUpdateDate
		case "current_stage":
			f.kind, f.stage = kStage, stageCurrent
		case "open_request_stage":
			f.kind, f.stage = kStage, stageOpenRequest
		case "completion_data":
			f.kind = kCompletion
			// The last <completion_data> wins, even without a <stage>.
			t.stageSeen[stageCompletion] = false
		default:
			f.kind, f.start = kExtra, lo-1
		}
	case kCompletion:
		if string(name) == "stage" {
			f.kind, f.stage = kStage, stageCompletion
		}
	case kStage:
		switch string(name) {
		case "id":
			f.kind, f.field = kLeaf, uint8(fStageID+2*int(parent.stage))
		case "name":
			f.kind, f.field = kLeaf, uint8(fStageName+2*int(parent.stage))
		}
	}
	switch f.kind {
	case kLeaf:
		f.start = t.arena.len()
	case kStage:
		// The last stage element wins as a whole.
		t.stageSeen[f.stage] = true
		id, name := fStageID+2*int(f.stage), fStageName+2*int(f.stage)
		t.fields[id], t.fields[name] = span{}, span{}
		t.seen[id], t.seen[name] = false, false
	}
	t.stack[t.depth] = f
	t.depth++
}

// inLeaf reports whether the innermost open element is a text field.
func (t *ticketBuilder) inLeaf() bool {
	return t.depth > 0 && t.stack[t.depth-1].kind == kLeaf
}

// text takes the decoded text b of the innermost open element.
func (t *ticketBuilder) text(b []byte) {
	if t.inLeaf() {
		t.arena.append(b)
	}
}

// topName returns the name of the innermost open element as written.
func (t *ticketBuilder) topName() []byte {
	f := &t.stack[t.depth-1]
	return t.in[f.lo:f.hi]
}

// close closes the innermost open element, whose end tag ends at in[end-1].
// The caller has checked that its end tag matches.
func (t *ticketBuilder) close(end int) {
	f := &t.stack[t.depth-1]
	switch f.kind {
	case kLeaf:
		// Keep only the trimmed text in the arena.
		a := t.arena.bytes()[f.start:]
		n := copy(a, bytes.TrimSpace(a))
		t.arena.truncate(f.start + n)
		t.fields[f.field] = span{f.start, f.start + n}
		t.seen[f.field] = true
	case kExtra:
		lo := t.arena.len()
		t.arena.append(t.in[f.start:end])
		t.extras.append(extraSpan{span: span{lo, t.arena.len()}, nameLen: f.hi - f.lo})
	}
	t.depth--
}

// result checks the ticket id and returns the TicketInfo collected. Its
// strings share one allocation, its pointers another.
func (t *ticketBuilder) result() (events.TicketInfo, error) {
	arena := t.arena.bytes()
	if !t.seen[fID] {
		return events.TicketInfo{}, xmlErrorf(ErrMissingTicketID, "missing <id>")
	}
	id := arena[t.fields[fID].lo:t.fields[fID].hi]
	if len(id) == 0 {
		return events.TicketInfo{}, xmlErrorf(ErrMissingTicketID, "<id> is empty")
	}
	if !validTicketID(string(id)) {
		return events.TicketInfo{}, xmlErrorf(ErrBadTicketID, "<id> %s is not a ticket number", quoteID(string(id)))
	}

	text := string(arena)
	field := func(i int) string { return text[t.fields[i].lo:t.fields[i].hi] }
	info := events.TicketInfo{
		ID:         field(fID),
		Subject:    field(fSubject),
		CreateDate: field(fCreateDate),
		UpdateDate: field(fUpdateDate),
	}
	created, cok := epochMillis(info.CreateDate)
	updated, uok := epochMillis(info.UpdateDate)
	seen := t.stageSeen
	if cok || uok || seen[stageCurrent] || seen[stageCompletion] || seen[stageOpenRequest] {
		p := new(ticketPointers)
		if cok {
			p.times[0] = created
			info.CreatedAt = &p.times[0]
		}
		if uok {
			p.times[1] = updated
			info.UpdatedAt = &p.times[1]
		}
		for s := range nStages {
			if seen[s] {
				p.stages[s] = events.Stage{ID: field(fStageID + 2*s), Name: field(fStageName + 2*s)}
			}
		}
		if seen[stageCurrent] {
			info.CurrentStage = &p.stages[stageCurrent]
		}
		if seen[stageCompletion] {
			info.CompletionStage = &p.stages[stageCompletion]
		}
		if seen[stageOpenRequest] {
			info.OpenRequestStage = &p.stages[stageOpenRequest]
		}
	}
	if extras := t.extras.all(); len(extras) > 0 {
		info.Extra = make([]events.RawElement, len(extras))
		for k, e := range extras {
			x := text[e.lo:e.hi]
			info.Extra[k] = events.RawElement{Name: x[1 : 1+e.nameLen], XML: x}
		}
	}
	return info, nil
}

// textArena is a byte slice that stays in small until it outgrows it. A
// slice of small kept in the builder itself would make escape analysis move
// the whole builder to the heap; small[:n] is made only when needed.
type textArena struct {
	small [512]byte
	n     int    // the length, while big is nil
	big   []byte // all the text, once small is outgrown
}

func (a *textArena) len() int {
	if a.big != nil {
		return len(a.big)
	}
	return a.n
}

func (a *textArena) bytes() []byte {
	if a.big != nil {
		return a.big
	}
	return a.small[:a.n]
}

func (a *textArena) append(b []byte) {
	if a.big == nil {
		if a.n+len(b) <= len(a.small) {
			a.n += copy(a.small[a.n:], b)
			return
		}
		a.big = append(make([]byte, 0, 2*(a.n+len(b))), a.small[:a.n]...)
	}
	a.big = append(a.big, b...)
}

// truncate shortens the text to n bytes.
func (a *textArena) truncate(n int) {
	if a.big != nil {
		a.big = a.big[:n]
	} else {
		a.n = n
	}
}

// extraList is, like textArena, a slice that stays in small until it
// outgrows it.
type extraList struct {
	small [8]extraSpan
	n     int
	big   []extraSpan
}

func (l *extraList) append(e extraSpan) {
	if l.big == nil {
		if l.n < len(l.small) {
			l.small[l.n] = e
			l.n++
			return
		}
		l.big = append(make([]extraSpan, 0, 2*len(l.small)), l.small[:]...)
	}
	l.big = append(l.big, e)
}

func (l *extraList) all() []extraSpan {
	if l.big != nil {
		return l.big
	}
	return l.small[:l.n]
}
