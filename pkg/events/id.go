package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// triggerIDVersion tags the encoding TriggerID hashes. Changing the encoding
// changes every id, so a change must come with a new tag.
const triggerIDVersion = "trigger/v1"

// TriggerID returns the deterministic id of a trigger: the lower-case hex of
// the first 16 bytes of SHA-256 over a length-prefixed (uvarint) encoding of
// the version tag "trigger/v1", the event, the ticket id, UpdateDate as
// given, the id and name of the current, completion and open-request stages
// (empty strings for a missing stage) and args. It is 32 characters long.
//
// The id is the message's Nats-Msg-Id, so the up to five attempts
// SecureChange makes to run a script for one trigger (and a replay of it) are
// stored once by the SCW_TRIGGERS dedup window. Anything that changes the
// encoding changes every id and breaks deduplication across the change: bump
// the version tag when doing so.
func TriggerID(event Trigger, t TicketInfo, args string) string {
	parts := [12]string{triggerIDVersion, string(event), t.ID, t.UpdateDate}
	for i, st := range [...]*Stage{t.CurrentStage, t.CompletionStage, t.OpenRequestStage} {
		if st != nil {
			parts[4+2*i], parts[5+2*i] = st.ID, st.Name
		}
	}
	parts[10] = args
	return hashParts(parts[:11]...)
}

// hashParts is the hex of the first 16 bytes of SHA-256 over the parts, each
// prefixed with its length as a uvarint (so no two lists of parts collide).
func hashParts(parts ...string) string {
	var buf [512]byte
	b := buf[:0]
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	sum := sha256.Sum256(b)
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}
