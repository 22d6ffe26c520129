package natsconn

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// leaderKV is a key-value bucket whose Get reads from the leader of the bucket's stream
// (Reader): nats.go's Get is a direct get whenever the bucket allows them, which every
// bucket nats.go creates does, and a follower may not have the value just written
// (Reader). Every other method is nats.go's: writes and compare-and-set go to the leader
// anyway.
type leaderKV struct {
	jetstream.KeyValue
	read Reader
}

// validKey is nats.go's rule for a key (jetstream.keyValid).
var validKey = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

// Get is the entry of key, read from the leader. A deleted or purged key is
// jetstream.ErrKeyNotFound, as with nats.go's Get.
func (kv leaderKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if key == "" || key[0] == '.' || key[len(key)-1] == '.' || strings.Contains(key, "..") || !validKey.MatchString(key) {
		return nil, jetstream.ErrInvalidKey
	}
	bucket := kv.Bucket()
	m, err := kv.read.Last(ctx, "KV_"+bucket, "$KV."+bucket+"."+key)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, jetstream.ErrKeyNotFound
	}
	if err != nil {
		return nil, err
	}
	switch m.Header.Get("KV-Operation") {
	case "DEL", "PURGE":
		return nil, jetstream.ErrKeyNotFound
	}
	if m.Header.Get(jetstream.MarkerReasonHeader) != "" { // a marker: the key was removed
		return nil, jetstream.ErrKeyNotFound
	}
	return kvEntry{bucket: bucket, key: key, m: m}, nil
}

// kvEntry is an entry read by leaderKV.Get.
type kvEntry struct {
	bucket, key string
	m           Stored
}

func (e kvEntry) Bucket() string                  { return e.bucket }
func (e kvEntry) Key() string                     { return e.key }
func (e kvEntry) Value() []byte                   { return e.m.Data }
func (e kvEntry) Revision() uint64                { return e.m.Seq }
func (e kvEntry) Created() time.Time              { return e.m.Time }
func (e kvEntry) Delta() uint64                   { return 0 }
func (e kvEntry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }
