package events

import (
	"strconv"
	"time"
)

// BucketRedrives records every dead letter an operator redrove (`triggerflow redrive`),
// keyed by its stream sequence in SCW_DLQ (RedriveKey), so it is not redriven twice by
// accident and `triggerflow trace` can show it.
const BucketRedrives = "scw_redrives"

// Redrive is the record of a redriven dead letter (BucketRedrives).
type Redrive struct {
	DLQSeq  uint64    `json:"dlq_seq"` // its sequence in SCW_DLQ (the key)
	Ticket  string    `json:"ticket"`
	Service string    `json:"service"` // who dead-lettered it (Scw-Service)
	Subject string    `json:"subject"` // where it was republished (Scw-Original-Subject)
	MsgID   string    `json:"msg_id"`  // Nats-Msg-Id of the republished message (RedriveMsgID)
	Seq     uint64    `json:"seq,omitempty"`
	Skip    bool      `json:"skip,omitempty"` // republished with Scw-Skip: true
	At      time.Time `json:"at"`
	By      string    `json:"by"`    // user@host that ran it
	Count   int       `json:"count"` // how many times it was redriven (--again)
	// Error is the dead letter's Scw-Error, kept for the record.
	Error string `json:"error,omitempty"`
}

// RedriveKey is the BucketRedrives key of the dead letter with this SCW_DLQ sequence.
func RedriveKey(dlqSeq uint64) string { return strconv.FormatUint(dlqSeq, 10) }

// RedriveMsgID is the Nats-Msg-Id of the n-th redrive (1-based) of a dead letter:
// redrive-<dlq seq>, then redrive-<dlq seq>-<n>. Two operators redriving it at once
// store it once.
func RedriveMsgID(dlqSeq uint64, n int) string {
	id := "redrive-" + strconv.FormatUint(dlqSeq, 10)
	if n > 1 {
		id += "-" + strconv.Itoa(n)
	}
	return id
}
