package smtptest

// CRAM-MD5: the challenge's nonce and the check of a client's digest.

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"time"
)

func nonce() int64 {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return time.Now().UnixNano()
	}
	return n.Int64()
}

func validCRAMMD5(secret, challenge, digest string) bool {
	h := hmac.New(md5.New, []byte(secret))
	h.Write([]byte(challenge))
	want := hex.EncodeToString(h.Sum(nil))
	return hmac.Equal([]byte(want), []byte(digest))
}
